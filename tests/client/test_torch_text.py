"""Text playgrounds with PyTorch and transformers models and a tokenizer preprocessor."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertForSequenceClassification

from aims_spaces import InvalidModel, InvalidSpec, ModelPlayground
from aims_spaces.core.preprocess import tokenizer_document
from apps.datasets import movie_reviews

pytestmark = pytest.mark.hub
MAX_LEN = 24


def make_tokenizer(texts) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        list(texts), trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]"])
    )
    return tok


class MeanEmbedding(torch.nn.Module):
    """A small text classifier: mean of token embeddings, then a linear layer."""

    def __init__(self, vocab: int = 200, dim: int = 16, classes: int = 2) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, dim)
        self.classifier = torch.nn.Linear(dim, classes)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embedding(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.classifier(pooled)


@pytest.fixture(scope="module")
def data():
    texts, labels = movie_reviews(400, seed=1)
    return texts[:300].tolist(), labels[:300], texts[300:].tolist(), labels[300:].reset_index(drop=True)


@pytest.fixture(scope="module")
def setup(users, data):
    X_train, y_train, X_test, y_test = data
    tok = make_tokenizer(X_train)
    pg = ModelPlayground(
        input_type="text", task_type="classification", name="reviews-nn", client=users("nina")
    )
    pg.create(eval_data=y_test, eval_features=X_test, example_data=X_test[:3], y_train=y_train)
    return pg, tok


def encode(tok, texts):
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(length=MAX_LEN, pad_id=tok.token_to_id("[PAD]"))
    enc = tok.encode_batch(texts)
    return torch.tensor([e.ids for e in enc]), torch.tensor([e.attention_mask for e in enc])


def train(model, tok, texts, labels, classes, epochs=30):
    ids, mask = encode(tok, texts)
    y = torch.tensor([classes.index(v) for v in labels])
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        opt.zero_grad()
        out = model(ids, mask)
        loss = loss_fn(out.logits if hasattr(out, "logits") else out, y)
        loss.backward()
        opt.step()
    return opt, loss_fn


def test_pytorch_and_transformers_text_models(setup, data, hub):
    pg, tok = setup
    X_train, y_train, X_test, y_test = data
    classes = pg.info.classes
    prep = tokenizer_document(tok, max_length=MAX_LEN)

    torch.manual_seed(0)
    net = MeanEmbedding()
    opt, loss_fn = train(net, tok, X_train, y_train, classes)
    ids, mask = encode(tok, X_test)
    with torch.no_grad():
        net_pred = [classes[i] for i in net(ids, mask).argmax(1).tolist()]
    s1 = pg.submit_model(
        model=net, preprocessor=prep, optimizer=opt, loss=loss_fn, prediction_submission=net_pred
    ).wait()
    assert s1.info.verified and s1.info.mismatch_fraction == 0.0
    assert s1.scores["all"]["accuracy"] == pytest.approx(np.mean(np.array(net_pred) == y_test.to_numpy()))
    meta = s1.info.metadata
    assert meta["layer_types"] == {"Embedding": 1, "Linear": 1}
    assert meta["total_parameters"] == sum(p.numel() for p in net.parameters())
    assert meta["optimizer"]["type"] == "Adam" and meta["optimizer"]["lr"] == 0.05
    assert meta["loss"]["type"] == "CrossEntropyLoss"
    assert {layer["name"]: layer["output_shape"] for layer in meta["layers"]}["classifier"] == ["batch", 2]

    cfg = BertConfig(
        vocab_size=200,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
    )
    torch.manual_seed(0)
    bert = BertForSequenceClassification(cfg)
    train(bert, tok, X_train, y_train, classes, epochs=5)
    s2 = pg.submit_model(model=bert, preprocessor=prep).wait()
    assert s2.info.framework == "transformers" and s2.info.model_type == "BertForSequenceClassification"
    assert s2.info.metadata["layer_types"]["Linear"] > 2

    # The ONNX model matches the module (probabilities are the softmax of its logits).
    local = pg.instantiate_model(s1.version, prefer="onnx")
    with torch.no_grad():
        expected = torch.softmax(net(ids[:10], mask[:10]), dim=1).numpy()
    np.testing.assert_allclose(local.predict_proba(X_test[:10]), expected, atol=1e-5)
    # The original weights load back into a fresh module.
    copy = pg.instantiate_model(s1.version, into=MeanEmbedding())
    assert torch.equal(copy.embedding.weight, net.embedding.weight)

    pg.deploy_model(s2.version)
    r = httpx.post(f"{hub.serve_url}/reviews-nn/predict", json={"inputs": X_test[:4]})
    assert r.status_code == 200, r.text
    body = r.json()
    with torch.no_grad():
        bert.eval()
        logits = bert(input_ids=ids[:4], attention_mask=mask[:4]).logits
    assert body["predictions"] == [classes[i] for i in logits.argmax(1).tolist()]
    np.testing.assert_allclose(
        [[p[c] for c in classes] for p in body["probabilities"]], torch.softmax(logits, 1).numpy(), atol=1e-4
    )
    r = httpx.post(
        f"{hub.serve_url}/reviews-nn/predict",
        files=[("file", (f"{i}.txt", t.encode(), "text/plain")) for i, t in enumerate(X_test[:4])],
    )
    assert r.status_code == 200 and r.json()["predictions"] == body["predictions"]
    label = Client(f"{hub.url}/p/reviews-nn/", verbose=False).predict(X_test[0], api_name="/predict")
    assert label["label"] == body["predictions"][0]
    board = pg.get_leaderboard().set_index("version")
    assert board.loc[s1.version, "arch.layers"] == "Embedding×1, Linear×1"
    assert board.loc[s1.version, "arch.loss"] == "CrossEntropyLoss"
    assert board.loc[s2.version, "arch.parameters"] == sum(p.numel() for p in bert.parameters())


def test_preprocessors_are_data_and_must_fit_the_model(setup, data):
    pg, tok = setup
    net = MeanEmbedding()
    with pytest.raises(InvalidSpec, match="Python function"):
        pg.submit_model(model=net, preprocessor=lambda texts: texts)
    bad = b'{"spec": {"kind": "tokenizer", "max_length": 8, "colour": "red"}, "tokenizer": {}}'
    with pytest.raises(InvalidSpec, match="colour"):
        pg.submit_model(model=net, preprocessor=bad)
    with pytest.raises(InvalidModel, match="missing a required argument: 'input_ids'"):
        pg.submit_model(
            model=net, preprocessor=tokenizer_document(tok, max_length=MAX_LEN, input_ids="tokens")
        )
    # An exported model with a preprocessor that feeds other inputs is refused by the hub.
    from aims_spaces.client.conversion import convert
    from aims_spaces.core.preprocess import load

    info = pg.get_info()
    onnx = convert(
        net,
        info.signature,
        sample=pg.get_eval_features(),
        preprocessor=load(tokenizer_document(tok, max_length=MAX_LEN)),
    ).onnx
    before = pg.get_info().n_submissions
    with pytest.raises(InvalidModel, match="do not match what its preprocessor makes"):
        pg.submit_model(
            model=onnx, preprocessor=tokenizer_document(tok, max_length=MAX_LEN, input_ids="tokens")
        )
    assert pg.get_info().n_submissions == before
