"""The audit of skops files (scikit-learn originals): what a file would build, read from its
schema without building anything. The hub only audits; the client audits again and then loads
(:func:`aims_spaces.client.conversion.sklearn.load_skops`) with exactly the types found here.

A skops file is a zip: ``schema.json`` describes a tree of nodes (``__loader__`` says how skops
rebuilds each one, ``__module__``/``__class__`` what it builds), arrays sit beside it as ``.npy``
and ``.npz`` entries. The audit refuses, before skops reads anything:

- a zip that could bomb the reader: too many entries, too many bytes once inflated, encrypted or
  oddly named entries, a schema too large, too deep or with too many nodes;
- any node that restores a callable (functions, methods, ``functools.partial``, ``operator``
  callables, arbitrary constructor calls) and any node kind not known to be harmless;
- any type not on the allow-list (:mod:`aims_spaces.core.skops_trusted`), and the estimators
  that keep a function by design;
- data that scikit-learn's compiled code would index without bounds checks: the nodes of
  decision trees and of HistGradientBoosting predictors, neighbour trees, sparse matrices;
- an object id reused for different content (skops rebuilds the first one in both places).

Then skops' own ``get_untrusted_types`` must report nothing the walk did not find.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidModel
from . import skops_trusted as allow

MAX_BYTES = 2 * 2**30
"""Largest total of a file's entries once inflated (nested ``.npz`` archives included)."""
MAX_ENTRIES = 100_000
MAX_SCHEMA_BYTES = 64 * 2**20
"""A GradientBoosting model of 300 stages and 3 classes writes an 18 MiB schema."""
MAX_DEPTH = 200
MAX_NODES = 250_000
SKOPS_PROTOCOL = 2
"""The skops format version the audit knows (written by every skops since 0.10)."""

_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_SHOWN = 8  # offending types named in a message
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}

_FUNCTION_LOADERS = {
    "FunctionNode": "the function {}",
    "MethodNode": "a method of {}",
    "PartialNode": "a functools.partial",
    "OperatorFuncNode": "the operator callable {}",
    "ConstructorFromReduceNode": "a constructor call of {}",
}
_REFUSED_LOADERS = {"DefaultDictNode", "CachedNode", "QuantileForestNode", "_DictWithDeprecatedKeysNode"}

# Ensembles that hand the rows they validated to their trees unchecked: the attribute holding
# the trees, which therefore may not use a feature beyond the ensemble's ``n_features_in_``.
_HGB = "sklearn.ensemble._hist_gradient_boosting.gradient_boosting"
_TREES_OF = {
    **{
        f"sklearn.tree._classes.{n}": "tree_"
        for n in (
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
        )
    },
    **{
        f"sklearn.ensemble._forest.{n}": "estimators_"
        for n in (
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
            "RandomTreesEmbedding",
        )
    },
    "sklearn.ensemble._gb.GradientBoostingClassifier": "estimators_",
    "sklearn.ensemble._gb.GradientBoostingRegressor": "estimators_",
    "sklearn.ensemble._iforest.IsolationForest": "estimators_",
    "sklearn.ensemble._bagging.BaggingClassifier": "estimators_",
    "sklearn.ensemble._bagging.BaggingRegressor": "estimators_",
    "sklearn.ensemble._weight_boosting.AdaBoostClassifier": "estimators_",
    "sklearn.ensemble._weight_boosting.AdaBoostRegressor": "estimators_",
    f"{_HGB}.HistGradientBoostingClassifier": "_predictors",
    f"{_HGB}.HistGradientBoostingRegressor": "_predictors",
}
_GRADIENT_BOOSTING = {
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
}
_TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_NEIGHBOR_TREES = {"sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree"}

_OBJECT_TYPES = frozenset(allow.ESTIMATORS + allow.INTERNAL_TYPES)
_VALUE_TYPES = frozenset(allow.BUILTIN_VALUE_TYPES + allow.NUMPY_SCALAR_TYPES)
_ARRAY_TYPES = frozenset(("numpy.ndarray", *allow.NUMPY_SCALAR_TYPES))
_DICT_TYPES = frozenset(("builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"))


class _Malformed(Exception):
    """Inside the audit: the file is not a well-formed skops file (becomes InvalidModel)."""


def check_skops(data: bytes) -> None:
    """Refuse a skops file unless everything it would build is on the allow-list and safe to use.

    Raises:
        InvalidModel: naming the first offending types, or what is malformed.
    """
    _audit(data)


def trusted_types(data: bytes) -> list[str]:
    """The allow-listed types the file holds, after :func:`check_skops`: exactly what to pass as
    ``skops.io.loads(data, trusted=...)``.

    Raises:
        InvalidModel: as :func:`check_skops`.
    """
    return sorted(_audit(data))


def _audit(data: bytes) -> set[str]:
    if not isinstance(data, bytes | bytearray):
        raise InvalidModel("the original model must be the bytes of a skops file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            walk = _Walk(z)
            walk.run()
    except _Malformed as e:
        raise InvalidModel(f"the original model is not a valid skops file: {e}") from None
    except RecursionError:
        raise InvalidModel("the original model is not a valid skops file: nested too deeply") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError):
        # zlib/bz2/lzma errors are OSError or subclasses; RuntimeError covers encrypted entries
        raise InvalidModel("the original model is not a readable skops file (a zip)") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, MemoryError):
        # numpy refusing an array, or a value of the wrong kind where the walk expects another:
        # whatever the file holds, the answer is a refusal, never a server error
        raise InvalidModel("the original model is not a valid skops file") from None
    if walk.offenses:
        shown = ", ".join(walk.offenses[:_SHOWN])
        more = f" and {len(walk.offenses) - _SHOWN} more" if len(walk.offenses) > _SHOWN else ""
        raise InvalidModel(
            f"the scikit-learn original holds what is never loaded: {shown}{more}. Only scikit-learn, "
            "numpy and scipy types on the allow-list can be shared, and no functions "
            "(e.g. FunctionTransformer(func=...), score_func, a callable metric)"
        )
    _agrees_with_skops(data, walk.found)
    return walk.found


def _agrees_with_skops(data: bytes, found: set[str]) -> None:
    """skops' own audit, run only on a file the walk accepted: it must see no type the walk did
    not (a disagreement means the two read the file differently, so refuse)."""
    import skops.io

    try:
        reported = skops.io.get_untrusted_types(data=data)
    except Exception:  # skops raises TypeError/ValueError/KeyError for files it cannot read
        raise InvalidModel("the original model is not a skops file this skops version can read") from None
    unexpected = [name for name in reported if name not in found]
    if unexpected:
        raise InvalidModel(
            f"the scikit-learn original holds types the audit cannot vet: {unexpected[:_SHOWN]}"
        )


class _Walk:
    """One pass over a skops file: zip limits, then every node of the schema."""

    def __init__(self, z: zipfile.ZipFile) -> None:
        self.z = z
        self.offenses: list[str] = []
        self.found: set[str] = set()
        self.nodes = 0
        self.ids: dict[int, str] = {}
        self.budget = MAX_BYTES
        self.entries: dict[str, zipfile.ZipInfo] = {}
        self.digests: dict[str, str] = {}
        self.handlers: dict[str, Callable[[dict[str, Any], int, int | None], list[Any]]] = {
            "JsonNode": self._json,
            "TypeNode": self._type_value,
            "SliceNode": self._slice,
            "BytesNode": self._bytes,
            "BytearrayNode": self._bytes,
            "ListNode": self._sequence,
            "SetNode": self._sequence,
            "TupleNode": self._sequence,
            "DictNode": self._dict,
            "NdArrayNode": self._ndarray,
            "MaskedArrayNode": self._masked,
            "DTypeNode": self._dtype,
            "RandomStateNode": self._random_state,
            "RandomGeneratorNode": self._generator,
            "SparseMatrixNode": self._sparse,
            "ObjectNode": self._object,
            "TreeNode": self._tree,
            "LossNode": self._loss,
        }

    # -- the zip -----------------------------------------------------------------------------

    def run(self) -> None:
        infos = self.z.infolist()
        if len(infos) > MAX_ENTRIES:
            raise _Malformed(f"{len(infos)} entries (at most {MAX_ENTRIES})")
        total = 0
        for info in infos:
            name = info.filename
            if (
                not name
                or name.startswith(("/", "\\"))
                or "\\" in name
                or "\x00" in name
                or ":" in name
                or any(part in ("", ".", "..") for part in name.split("/"))
            ):
                raise _Malformed("an entry has a path for a name")
            if name in self.entries:
                raise _Malformed("two entries have the same name")
            if info.flag_bits & 0x1:
                raise _Malformed("an entry is encrypted")
            if info.compress_type not in _COMPRESSIONS:
                raise _Malformed("an entry uses an unknown compression")
            total += info.file_size
            self.entries[name] = info
        if total > MAX_BYTES:
            raise _Malformed(f"it inflates to more than {MAX_BYTES // 2**30} GiB")
        self.budget = MAX_BYTES - total
        schema = self.entries.get("schema.json")
        if schema is None:
            raise _Malformed("it has no schema.json")
        if schema.file_size > MAX_SCHEMA_BYTES:
            raise _Malformed(f"its schema is larger than {MAX_SCHEMA_BYTES // 2**20} MiB")
        try:
            root = json.loads(self._read(schema.filename))
        except (ValueError, UnicodeDecodeError):
            raise _Malformed("its schema is not JSON") from None
        if not isinstance(root, dict):
            raise _Malformed("its schema is not a node")
        protocol = root.get("protocol")
        if type(protocol) is not int or protocol != SKOPS_PROTOCOL:
            raise _Malformed(f"skops format {protocol!r} (this hub reads format {SKOPS_PROTOCOL})")
        self._node(root, 0, None)

    def _read(self, name: Any, limit: int | None = None) -> bytes:
        info = self.entries.get(name) if isinstance(name, str) else None
        if info is None:
            raise _Malformed("a node names an entry the zip does not have")
        with self.z.open(info) as f:
            return f.read() if limit is None else f.read(limit)

    def _file_digest(self, name: Any) -> str:
        """A digest of an entry's bytes: nodes that share an id must share content, and skops
        names the same array's file differently each time it meets it."""
        info = self.entries.get(name) if isinstance(name, str) else None
        if info is None:
            raise _Malformed("a node names an entry the zip does not have")
        if name not in self.digests:
            h = hashlib.blake2b(digest_size=16)
            with self.z.open(info) as f:
                while chunk := f.read(2**20):
                    h.update(chunk)
            self.digests[name] = h.hexdigest()
        return self.digests[name]

    def _npy(self, name: Any, load: bool = False) -> tuple[tuple[int, ...], np.dtype[Any], np.ndarray | None]:
        """The shape and dtype of an ``.npy`` entry (its header only, unless ``load``); the entry
        must hold exactly that many bytes, so ``np.load`` allocates no more than the file holds."""
        info = self.entries.get(name) if isinstance(name, str) else None
        if info is None:
            raise _Malformed("a node names an entry the zip does not have")
        with self.z.open(info) as f:
            shape, dtype, offset = _npy_header(f)
        if dtype.hasobject:
            raise _Malformed("an array holds Python objects")
        if offset + math.prod(shape) * dtype.itemsize != info.file_size:
            raise _Malformed("an array's size does not match its header")
        array = np.load(io.BytesIO(self._read(name)), allow_pickle=False) if load else None
        return shape, dtype, array

    # -- the nodes ---------------------------------------------------------------------------

    def _node(
        self, state: Any, depth: int, bound: int | None, attr_bounds: dict[str, int] | None = None
    ) -> str:
        """Check one node and its children; return a digest of its content (ids left out).

        ``bound`` is the number of columns the rows reaching this node's trees have (None when
        unknown); ``attr_bounds`` gives it per attribute of an object's ``__dict__``."""
        if not isinstance(state, dict) or not isinstance(state.get("__loader__"), str):
            raise _Malformed("a node is not an object with a __loader__")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Malformed(f"more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise _Malformed(f"nested deeper than {MAX_DEPTH} nodes")
        loader = state["__loader__"]
        if loader in _FUNCTION_LOADERS:
            name = _shown_name(state)
            parts: list[Any] = []
            self._offend(_FUNCTION_LOADERS[loader].format(name))
            content = state.get("content")
            func = content.get("func") if isinstance(content, dict) else None
            if (
                loader == "PartialNode"
                and isinstance(func, dict)
                and func.get("__loader__") == "FunctionNode"
            ):
                self._offend(f"the function {_shown_name(func)}")
        elif loader in _REFUSED_LOADERS:
            name = _shown_name(state)
            parts = []
            self._offend(f"a {loader} (a kind of node the hub never loads)")
        elif loader == "DictNode" and attr_bounds is not None:
            name = _type_name(state)
            parts = self._dict(state, depth, bound, attr_bounds)
        elif loader in self.handlers:
            name = _type_name(state)
            parts = self.handlers[loader](state, depth, bound)
        else:
            raise _Malformed(f"unknown node kind {loader[:40]!r}")
        if name in allow.ALLOWED_TYPES:
            self.found.add(name)
        digest = hashlib.blake2b(_ENCODE([loader, name, parts]).encode(), digest_size=16).hexdigest()
        saved_id = state.get("__id__")
        if saved_id is not None:
            if type(saved_id) is not int:
                raise _Malformed("a node's __id__ is not an integer")
            if self.ids.setdefault(saved_id, digest) != digest:
                # skops rebuilds the first node with an id wherever the id appears again
                raise _Malformed("two different nodes share an __id__")
        return digest

    def _offend(self, what: str) -> None:
        if what not in self.offenses:
            self.offenses.append(what)

    def _allowed(self, name: str, kinds: frozenset[str] | set[str]) -> bool:
        if name in kinds:
            return True
        self._offend(allow.REFUSED.get(name) or f"the type {name}")
        return False

    def _children(self, values: Any, depth: int, bound: int | None) -> list[str]:
        if not isinstance(values, list):
            raise _Malformed("a container's content is not a list")
        return [self._node(v, depth + 1, bound) for v in values]

    def _json(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        if not isinstance(state.get("content"), str):
            raise _Malformed("a JSON node holds no JSON text")
        self._allowed(_type_name(state), {"builtins.str", *allow.BUILTIN_VALUE_TYPES})
        return [state["content"]]

    def _type_value(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), _VALUE_TYPES)
        return []

    def _slice(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), {"builtins.slice"})
        content = state.get("content")
        if not isinstance(content, dict):
            raise _Malformed("a slice has no content")
        parts = [content.get(k) for k in ("start", "stop", "step")]
        if any(p is not None and type(p) is not int for p in parts):
            raise _Malformed("a slice holds something other than integers")
        return parts

    def _bytes(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), {"builtins.bytes", "builtins.bytearray"})
        return [self._file_digest(state.get("file"))]

    def _sequence(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        kinds = {"ListNode": "builtins.list", "SetNode": "builtins.set", "TupleNode": "builtins.tuple"}
        self._allowed(_type_name(state), {kinds[state["__loader__"]]})
        return self._children(state.get("content"), depth, bound)

    def _dict(
        self, state: dict[str, Any], depth: int, bound: int | None, attr_bounds: dict[str, int] | None = None
    ) -> list[Any]:
        self._allowed(_type_name(state), _DICT_TYPES)
        content = state.get("content")
        if not isinstance(content, dict):
            raise _Malformed("a dict has no content")
        key_types = self._node(state.get("key_types"), depth + 1, None)
        items = []
        for key, value in content.items():
            child_bound = attr_bounds.get(key) if attr_bounds is not None else bound
            items.append([key, self._node(value, depth + 1, child_bound)])
        return [key_types, items]

    def _ndarray(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), _ARRAY_TYPES)
        kind = state.get("type")
        if kind == "numpy":
            self._npy(state.get("file"))
            return ["numpy", self._file_digest(state["file"])]
        if kind == "json":
            return [
                "json",
                self._children(state.get("content"), depth, bound),
                self._node(state.get("shape"), depth + 1, None),
            ]
        raise _Malformed("an array node of unknown type")

    def _masked(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), {"numpy.ma.MaskedArray"})
        content = _field(state, "content", dict)
        return [
            self._node(content.get("data"), depth + 1, None),
            self._node(content.get("mask"), depth + 1, None),
        ]

    def _dtype(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), {"numpy.dtype"})
        content = _field(state, "content", dict)
        if content.get("__loader__") != "NdArrayNode":
            raise _Malformed("a dtype is not stored as an array")
        return [self._node(content, depth + 1, None)]

    def _random_state(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), {"numpy.random.mtrand.RandomState"})
        return [self._node(state.get("content"), depth + 1, None)]

    def _generator(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), {"numpy.random._generator.Generator"})
        content = _field(state, "content", dict)
        # skops builds the bit generator whose class name sits, as a string, in the state
        name = _json_value(_dict_items(content.get("bit_generator")).get("bit_generator"))
        if not isinstance(name, str) or f"numpy.random.{name}" not in allow.BIT_GENERATORS:
            self._offend(f"the bit generator numpy.random.{str(name)[:60]}")
        else:
            self.found.add(f"numpy.random.{name}")
        return [
            self._node(content.get("bit_generator"), depth + 1, None),
            self._node(content.get("seed_seq"), depth + 1, None),
        ]

    def _sparse(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), frozenset(allow.SPARSE_TYPES))
        if state.get("type") != "scipy":
            raise _Malformed("a sparse matrix of unknown type")
        self._check_npz(state.get("file"))
        return [self._file_digest(state["file"])]

    def _object(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        name = _type_name(state)
        allowed = self._allowed(name, _OBJECT_TYPES)
        content = state.get("content")
        if content is None:
            if name == _TREE_PREDICTOR or name in _NEIGHBOR_TREES:
                raise _Malformed("a tree without its state")  # compiled code would read empty arrays
            return [None]
        if not isinstance(content, dict):
            raise _Malformed("an object's state is not a node")
        attrs = _dict_items(content) if content.get("__loader__") == "DictNode" else None
        attr_bounds: dict[str, int] | None = None
        if attrs is not None:
            if allowed:
                self._check_none_params(name, attrs)
            attr_bounds = {}
            trees_attr = _TREES_OF.get(name)
            if trees_attr is not None:
                own = _n_features_in(attrs)
                if trees_attr == "tree_" and bound is not None and own != bound:
                    # GradientBoosting checks the rows against its first tree only
                    raise _Malformed("a tree estimator takes another number of columns than its ensemble")
                limits = [b for b in (bound, own, self._feature_subsets(attrs)) if b is not None]
                if limits:
                    attr_bounds[trees_attr] = min(limits)
        digest = self._node(content, depth + 1, None, attr_bounds)
        if allowed and name == _TREE_PREDICTOR:
            self._check_tree_predictor(attrs, bound)
        elif allowed and name in _NEIGHBOR_TREES:
            self._check_neighbor_tree(content)
        elif allowed and name in _GRADIENT_BOOSTING:
            self._check_gradient_boosting(attrs)
        return [digest]

    def _check_gradient_boosting(self, attrs: dict[str, Any] | None) -> None:
        """``predict_stages`` adds tree k of each stage into column k of the initial prediction
        without a bounds check: the stages may not have more columns than that prediction."""
        if attrs is None or "estimators_" not in attrs:
            return  # not fitted: nothing to predict with
        stages = attrs["estimators_"]
        if stages.get("__loader__") != "NdArrayNode" or stages.get("type") != "json":
            raise _Malformed("a GradientBoosting model's stages are not an array of trees")
        # skops rebuilds a 2-D object array with np.array(rows): its width is the longest row's
        rows = stages.get("content")
        if len(_sequence_items(stages.get("shape"))) != 2 or not isinstance(rows, list):
            raise _Malformed("a GradientBoosting model's stages are not a table of trees")
        width = max(
            (len(r["content"]) for r in rows if isinstance(r, dict) and isinstance(r.get("content"), list)),
            default=0,
        )
        per_stage = _json_value(attrs.get("n_trees_per_iteration_"))
        if type(per_stage) is not int or per_stage < 1 or width != per_stage:
            raise _Malformed("a GradientBoosting model's stages do not match its outputs")
        init: Any = attrs.get("init_")
        if _json_value(init) == "zero":
            return  # the initial prediction has n_trees_per_iteration_ columns
        init_name = _type_name(init) if isinstance(init, dict) else ""
        if init_name == "sklearn.dummy.DummyRegressor" and per_stage == 1:
            return
        if init_name == "sklearn.dummy.DummyClassifier":
            dummy = _dict_items(init.get("content"))
            n_classes = _json_value(dummy.get("n_classes_"))
            prior_shape, _, _ = self._npy(_field(dummy.get("class_prior_"), "file", str))
            outputs = _json_value(dummy.get("n_outputs_"))
            if (
                outputs == 1
                and type(n_classes) is int
                and n_classes >= max(per_stage, 2)
                and prior_shape == (n_classes,)
            ):
                return
            raise _Malformed("a GradientBoosting model's initial estimator does not match its stages")
        self._offend("a GradientBoosting model with a custom init estimator")

    def _check_none_params(self, name: str, attrs: dict[str, Any]) -> None:
        short = name.rsplit(".", 1)[-1]
        for param in allow.NONE_PARAMS.get(name, ()):
            if param in attrs and not _is_none(attrs[param]):
                self._offend(f"a {short} with {param} set (only {param}=None can be shared)")
        for attr in allow.NONE_ATTRIBUTES:
            if attr in attrs and not _is_none(attrs[attr]):
                self._offend(f"a {short} with {attr} set (only {attr}=None can be shared)")

    def _feature_subsets(self, attrs: dict[str, Any]) -> int | None:
        """Bagging and IsolationForest give each tree only the columns in ``estimators_features_``."""
        subsets = attrs.get("estimators_features_")
        if subsets is None:
            return None
        if subsets.get("__loader__") != "ListNode" or not isinstance(subsets.get("content"), list):
            raise _Malformed("estimators_features_ is not a list of arrays")
        sizes = []
        for node in subsets["content"]:
            if not isinstance(node, dict) or node.get("type") != "numpy":
                raise _Malformed("estimators_features_ is not a list of arrays")
            shape, _, _ = self._npy(node.get("file"))
            if len(shape) != 1:
                raise _Malformed("estimators_features_ is not a list of 1-D arrays")
            sizes.append(shape[0])
        return min(sizes, default=None)

    def _tree(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        name = _type_name(state)
        if not self._allowed(name, frozenset(allow.TREE_TYPES)):
            return []
        args_state = _field(_field(state, "__reduce__", dict), "args", dict)
        parts = [self._node(args_state, depth + 1, None), self._node(state.get("content"), depth + 1, None)]
        args = _sequence_items(args_state)
        attrs = _dict_items(state.get("content"))
        if len(args) != 3:
            raise _Malformed("a decision tree without its three arguments")
        n_features, n_outputs = _json_value(args[0]), _json_value(args[2])
        max_depth, node_count = _json_value(attrs.get("max_depth")), _json_value(attrs.get("node_count"))
        if (
            not all(type(v) is int and v >= 1 for v in (n_features, n_outputs, node_count))
            or type(max_depth) is not int
        ):
            raise _Malformed("a decision tree with invalid sizes")
        n_classes = self._array(args[1])
        if n_classes.shape != (n_outputs,) or n_classes.dtype.kind not in "iu" or (n_classes < 1).any():
            raise _Malformed("a decision tree with invalid class counts")
        nodes = self._array(attrs.get("nodes"))
        if nodes.shape != (node_count,) or not {"left_child", "right_child", "feature"} <= set(
            nodes.dtype.names or ()
        ):
            raise _Malformed("a decision tree's nodes do not match its node count")
        limit = n_features if bound is None else min(n_features, bound)
        internal = nodes["left_child"] != -1
        if (nodes["right_child"][~internal] != -1).any():
            raise _Malformed("a decision tree has a half-leaf")
        depth_reached = _check_tree_links(nodes["left_child"], nodes["right_child"], internal)
        feature = nodes["feature"][internal]
        if ((feature < 0) | (feature >= limit)).any():
            raise _Malformed("a decision tree splits on a column its model does not have")
        if depth_reached > max_depth:
            raise _Malformed("a decision tree is deeper than its max_depth says")
        return parts

    def _check_tree_predictor(self, attrs: dict[str, Any] | None, bound: int | None) -> None:
        if attrs is None or bound is None:
            raise _Malformed("a HistGradientBoosting tree outside its model")
        nodes = self._array(attrs.get("nodes"))
        if nodes.ndim != 1 or len(nodes) < 1:
            raise _Malformed("a HistGradientBoosting tree without nodes")
        if not {"left", "right", "feature_idx", "is_leaf", "is_categorical"} <= set(nodes.dtype.names or ()):
            raise _Malformed("a HistGradientBoosting tree with unknown nodes")
        internal = nodes["is_leaf"] == 0
        _check_tree_links(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), internal)
        feature = nodes["feature_idx"][internal]
        if ((feature < 0) | (feature >= bound)).any():
            raise _Malformed("a HistGradientBoosting tree splits on a column its model does not have")
        if nodes["is_categorical"][internal].any():
            # categorical splits index bitsets the file sizes; they come with a preprocessing
            # function, which is refused anyway
            self._offend("a HistGradientBoosting model with categorical features")

    def _check_neighbor_tree(self, content: dict[str, Any]) -> None:
        """KDTree/BallTree: every node's range lies in the data, children split their parent's
        range, ``idx_array`` is a permutation (query_radius writes one slot per point found)."""
        items = _sequence_items(content)
        if content.get("__loader__") != "TupleNode" or len(items) != 13:
            raise _Malformed("a neighbour tree with an unknown state")
        data_shape, _, _ = self._npy(_field(items[0], "file", str))
        idx = self._array(items[1])
        node_data = self._array(items[2])
        bounds_shape, _, _ = self._npy(_field(items[3], "file", str))
        leaf_size, n_levels, n_nodes = (_json_value(items[i]) for i in (4, 5, 6))
        if len(data_shape) != 2 or not all(type(v) is int for v in (leaf_size, n_levels, n_nodes)):
            raise _Malformed("a neighbour tree with invalid sizes")
        n, d = data_shape
        if not {"idx_start", "idx_end", "is_leaf"} <= set(node_data.dtype.names or ()):
            raise _Malformed("a neighbour tree with unknown nodes")
        m = len(node_data)
        if (
            leaf_size < 1
            or not 1 <= n_levels <= 64
            or n_nodes != m
            or m != 2**n_levels - 1
            or node_data.ndim != 1
            or len(bounds_shape) != 3
            or bounds_shape[0] not in (1, 2)
            or bounds_shape[1:] != (m, d)
            or idx.shape != (n,)
            or idx.dtype.kind not in "iu"
            or not np.array_equal(np.sort(idx), np.arange(n))
        ):
            raise _Malformed("a neighbour tree whose arrays do not fit together")
        start, end = node_data["idx_start"].astype(np.int64), node_data["idx_end"].astype(np.int64)
        if (start < 0).any() or (end < start).any() or (end > n).any() or start[0] != 0 or end[0] != n:
            raise _Malformed("a neighbour tree's node points outside its data")
        parents = np.flatnonzero(node_data["is_leaf"] == 0)
        left, right = 2 * parents + 1, 2 * parents + 2
        if (right >= m).any() or (
            (start[left] != start[parents]) | (end[left] != start[right]) | (end[right] != end[parents])
        ).any():
            raise _Malformed("a neighbour tree's children do not split their parent")
        weights = items[12]
        if weights.get("__loader__") != "JsonNode" or _json_value(weights) is not None:
            shape, _, _ = self._npy(weights.get("file"))
            if shape != (n,):
                raise _Malformed("a neighbour tree's sample weights do not match its data")

    def _loss(self, state: dict[str, Any], depth: int, bound: int | None) -> list[Any]:
        self._allowed(_type_name(state), frozenset(allow.LOSS_TYPES))
        args_state = _field(_field(state, "__reduce__", dict), "args", dict)
        return [self._node(args_state, depth + 1, None), self._node(state.get("content"), depth + 1, None)]

    def _array(self, state: Any) -> np.ndarray:
        """A numpy array stored in the file, loaded without pickle (its node is checked apart)."""
        if (
            not isinstance(state, dict)
            or state.get("__loader__") != "NdArrayNode"
            or state.get("type") != "numpy"
        ):
            raise _Malformed("an array is not stored as a numpy array")
        _, _, array = self._npy(state.get("file"), load=True)
        assert array is not None
        return array

    def _check_npz(self, name: Any) -> None:
        """A sparse matrix: its ``.npz`` (a zip inside the zip) within the byte budget, a format
        ``load_npz`` rebuilds, indices inside its shape (scipy does not check them on load)."""
        info = self.entries.get(name) if isinstance(name, str) else None
        if info is None:
            raise _Malformed("a node names an entry the zip does not have")
        with zipfile.ZipFile(io.BytesIO(self._read(name))) as inner:
            infos = inner.infolist()
            if len(infos) > 10 or sum(i.file_size for i in infos) > self.budget:
                raise _Malformed("a sparse matrix inflates too far")
            self.budget -= sum(i.file_size for i in infos)
            arrays = {}
            for i in infos:
                if not i.filename.endswith(".npy") or i.flag_bits & 0x1:
                    raise _Malformed("a sparse matrix holds something other than arrays")
                arrays[i.filename[:-4]] = np.load(io.BytesIO(inner.read(i)), allow_pickle=False)
        fmt = arrays.get("format")
        shape = arrays.get("shape")
        data = arrays.get("data")
        if fmt is None or shape is None or data is None or shape.shape != (2,) or data.ndim != 1:
            raise _Malformed("a sparse matrix without format, shape or data")
        fmt_name = fmt.item().decode() if isinstance(fmt.item(), bytes) else fmt.item()
        rows, cols = (int(v) for v in shape)
        nnz = len(data)

        def within(a: np.ndarray | None, size: int, upper: int) -> bool:
            return (
                a is not None
                and a.shape == (size,)
                and a.dtype.kind in "iu"
                and bool(((a >= 0) & (a < upper)).all())
            )

        if fmt_name in ("csr", "csc"):
            major, minor = (rows, cols) if fmt_name == "csr" else (cols, rows)
            indptr = arrays.get("indptr")
            ok = (
                within(arrays.get("indices"), nnz, minor)
                and indptr is not None
                and indptr.shape == (major + 1,)
                and indptr.dtype.kind in "iu"
                and indptr[0] == 0
                and indptr[-1] == nnz
                and bool((np.diff(indptr) >= 0).all())
            )
        elif fmt_name == "coo":
            coords = arrays.get("coords")
            if coords is not None and coords.ndim == 2 and coords.shape[0] == 2:
                ok = within(coords[0], nnz, rows) and within(coords[1], nnz, cols)
            else:
                ok = within(arrays.get("row"), nnz, rows) and within(arrays.get("col"), nnz, cols)
        else:
            raise _Malformed("a sparse matrix in a format other than csr, csc or coo")
        if not ok or rows < 0 or cols < 0:
            raise _Malformed("a sparse matrix with indices outside its shape")


def _type_name(state: dict[str, Any]) -> str:
    module, cls = state.get("__module__"), state.get("__class__")
    if not isinstance(module, str) or not isinstance(cls, str) or len(module) + len(cls) > 200:
        raise _Malformed("a node without a module and class name")
    return _dotted(module, cls)


@functools.lru_cache(maxsize=4096)
def _dotted(module: str, cls: str) -> str:
    name = f"{module}.{cls}"
    if not _NAME.fullmatch(name):
        raise _Malformed("a node's type is not a dotted name")
    return name


def _shown_name(state: dict[str, Any]) -> str:
    """The dotted name a function node gives, shortened for a message (it may be anything)."""
    name = f"{state.get('__module__')}.{state.get('__class__')}"
    return name if _NAME.fullmatch(name) and len(name) <= 200 else repr(name[:80])


def _field(state: Any, key: str, kind: type) -> Any:
    value = state.get(key) if isinstance(state, dict) else None
    if not isinstance(value, kind):
        raise _Malformed(f"a node without its {key!r}")
    return value


def _dict_items(state: Any) -> dict[str, Any]:
    """The content of a DictNode (the attributes of an object), unchecked."""
    if (
        not isinstance(state, dict)
        or state.get("__loader__") != "DictNode"
        or not isinstance(state.get("content"), dict)
    ):
        raise _Malformed("an object's state is not a dict")
    return state["content"]


def _sequence_items(state: Any) -> list[Any]:
    if not isinstance(state, dict) or state.get("__loader__") not in ("TupleNode", "ListNode"):
        raise _Malformed("a node without its arguments")
    items = state.get("content")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _Malformed("a node without its arguments")
    return items


def _json_value(state: Any) -> Any:
    """The value of a JsonNode (None for anything else: callers then refuse)."""
    if (
        not isinstance(state, dict)
        or state.get("__loader__") != "JsonNode"
        or not isinstance(state.get("content"), str)
    ):
        return None
    try:
        return json.loads(state["content"])
    except ValueError:
        raise _Malformed("a JSON node holds invalid JSON") from None


def _is_none(state: Any) -> bool:
    return (
        isinstance(state, dict) and state.get("__loader__") == "JsonNode" and state.get("content") == "null"
    )


def _n_features_in(attrs: dict[str, Any]) -> int | None:
    if "n_features_in_" not in attrs:
        return None
    n = _json_value(attrs["n_features_in_"])
    if type(n) is not int or n < 0:
        raise _Malformed("n_features_in_ is not an integer")
    return n


def _check_tree_links(left: np.ndarray, right: np.ndarray, internal: np.ndarray) -> int:
    """Children come after their parent and every node but the root has exactly one parent, so
    every walk from the root ends; returns the depth of the deepest node."""
    n = len(left)
    parents = np.flatnonzero(internal)
    children = np.concatenate([left[parents], right[parents]]).astype(np.int64)
    if ((children <= np.concatenate([parents, parents])) | (children >= n)).any():
        raise _Malformed("a tree's node points outside the tree")
    if n > 1 and not np.array_equal(np.bincount(children, minlength=n)[1:], np.ones(n - 1, dtype=np.int64)):
        raise _Malformed("a tree's nodes are not one tree")
    if children.size != n - 1:
        raise _Malformed("a tree's nodes are not one tree")
    depth, level = 0, np.array([0])
    is_internal = internal.astype(bool)
    left64, right64 = left.astype(np.int64), right.astype(np.int64)
    while True:
        level = level[is_internal[level]]
        if not level.size:
            return depth
        level = np.concatenate([left64[level], right64[level]])
        depth += 1


def _npy_header(f: Any) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """Shape, dtype and data offset of an ``.npy`` stream (numpy parses the header with
    ``ast.literal_eval`` and refuses oversized headers)."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(f)
        else:
            raise _Malformed("an array in an unknown .npy version")
    except ValueError:
        raise _Malformed("an array entry is not a .npy file") from None
    return shape, dtype, f.tell()


def skops_class_name(data: bytes) -> str | None:
    """The class name of the object a skops file holds (``Pipeline``, ``RandomForestClassifier``),
    read from its schema without building anything; None when the file does not say."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:  # a schema that large is not a model's
                return None
            schema = json.loads(z.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, RecursionError):
        return None
    name = schema.get("__class__") if isinstance(schema, dict) else None
    return name[:128] if isinstance(name, str) else None
