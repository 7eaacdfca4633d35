"""The hub's front page: the playgrounds a visitor (or the signed-in user) can see."""

from __future__ import annotations

import gradio as gr

from aims_spaces.domain import Board
from aims_spaces.errors import AimsError
from aims_spaces.hub import Hub

from . import tables
from .session import Sessions, cache_policy


def build_hub_app(hub: Hub, sessions: Sessions | None = None) -> gr.Blocks:
    sessions = sessions or Sessions(hub)

    def header(request: gr.Request) -> str:
        caller = sessions.of(request)
        if caller is None:
            return "Visitor · [Log in](/login?next=/)"
        return f"Logged in as **{caller.username}** · [Log out](/logout?next=/)"

    def playgrounds(request: gr.Request) -> str:
        caller = sessions.of(request)
        serving = hub.deployments.serving_versions()
        rows = []
        for info in hub.playgrounds.list(caller):
            best = None
            try:
                board = hub.leaderboards.get(caller, info.name, Board.EXPERIMENT.value)
                if board.rows:
                    best = board.rows[0].scores.get(board.metric.value)
            except AimsError:
                pass
            rows.append((info, best, serving.get(info.name)))
        return tables.playground_cards(rows)

    with gr.Blocks(title="aims_spaces", delete_cache=cache_policy(hub)) as demo:
        with gr.Row():
            gr.Markdown(
                "# aims_spaces\nPlaygrounds for collaborative machine learning: submit models, "
                "compare them on held-out data, deploy the best in one line."
            )
            who = gr.Markdown()
        table = gr.HTML()
        gr.Markdown("REST API: [/docs](/docs) · Python client: `from aims_spaces import ModelPlayground`")
        demo.load(header, outputs=who, api_visibility="private")
        demo.load(playgrounds, outputs=table, api_name="playgrounds")
    return demo
