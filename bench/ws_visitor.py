"""A visitor without a browser: speaks Streamlit's websocket protocol (streamlit.proto) to open a link.

It does what Streamlit's frontend does for a page load and nothing that a renderer does: opens
/_stcore/stream with the "streamlit" subprotocol, sends a BackMsg rerun_script with the link's query string,
and, for each ForwardMsg auto_rerun (a fragment's `run_every`), sends a rerun_script with that fragment's id
and is_auto_rerun every `interval` seconds, as the frontend's timer does, until a new full run
(new_session) or a stop_auto_rerun cancels it. Those fragment reruns are the lab's heartbeat: without them
the server stops the run (bnviz/live.py). So many visitors load the server, not the machine's CPU with
renderers. No widget states are sent: a link visitor touches no widget, as with an autorun link.

Recorded per visitor (seconds since it started connecting): the first delta holding a chart with x data
(the lab's live chart component, or st.plotly_chart's spec), the first progress text saying "finished", and
whether an exception element arrived.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ENDS = ("finished", "stopped", "failed", "diverged")  # a run's last states (bnviz/ui/run_buttons.py:progress)


@dataclass
class Visit:
    """What one visitor saw: times in seconds since it started connecting (None: never seen)."""

    first_chart_s: float | None = None
    finished_s: float | None = None
    exceptions: list[str] = field(default_factory=list)
    progress: str = ""  # the last progress text seen
    ended: str | None = None  # how its run ended, as the progress says: finished, stopped, failed, diverged
    fragment_reruns: int = 0  # rerun_script messages sent for run_every fragments
    messages: int = 0
    error: str | None = None


def _has_x(x) -> bool:
    """Plotly JSON x data: a list, or a typed array ({"bdata": ..., "dtype": ...}) from a numpy array."""
    if isinstance(x, dict):
        return bool(x.get("bdata")) or bool(x.get("_inputArray"))
    return bool(x)


def figure_has_data(figure_json: str) -> bool:
    """Whether a plotly figure's JSON has a trace with x data (the labelled placeholders have none)."""
    try:
        figure = json.loads(figure_json)
    except (TypeError, ValueError):
        return False
    return any(_has_x(trace.get("x")) for trace in figure.get("data", []) if isinstance(trace, dict))


def chart_with_data(element) -> bool:
    """Whether a delta's element is a chart with x data: the lab's bnviz_live_chart component (its data
    JSON holds the figure's JSON) or a st.plotly_chart (its spec)."""
    kind = element.WhichOneof("type")
    if kind == "plotly_chart":
        return figure_has_data(element.plotly_chart.spec)
    if kind == "bidi_component" and "bnviz_live_chart" in element.bidi_component.component_name:
        try:
            data = json.loads(element.bidi_component.json)
        except ValueError:
            return False
        return isinstance(data, dict) and figure_has_data(data.get("figure"))
    return False


def _rerun(query_string: str, page_hash: str = "", fragment_id: str = "") -> bytes:
    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query_string
    state.page_script_hash = page_hash
    state.page_name = ""
    if fragment_id:
        state.fragment_id, state.is_auto_rerun = fragment_id, True
    state.widget_states.SetInParent()
    return msg.SerializeToString()


async def visit(url: str, link: str, until_s: float = 600, stop_at_end: bool = True, trace=None) -> Visit:
    """Open `url` + `link` (e.g. "/?autorun=1&steps=400") as a browser would and follow the page until its
    progress says its run ended (finished, stopped, failed, diverged) or until_s. `url` is the server's
    http://host:port; `trace(seconds, msg)`, if given, sees every ForwardMsg (debugging)."""
    query = urlsplit(link).query
    ws_url = "ws" + url.removeprefix("http") + "/_stcore/stream"
    seen, started = Visit(), time.monotonic()
    timers: dict[str, asyncio.Task] = {}
    page_hash = ""

    async def fragment_timer(ws, fragment_id: str, interval: float):
        while True:  # the frontend's setInterval: a rerun every interval, whether or not the last one ended
            await asyncio.sleep(interval)
            await ws.send(_rerun(query, page_hash, fragment_id))
            seen.fragment_reruns += 1

    def cancel(fragment_ids=None):
        for fid in list(timers) if fragment_ids is None else fragment_ids:
            task = timers.pop(fid, None)
            if task:
                task.cancel()

    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                      open_timeout=until_s, ping_interval=None) as ws:
            await ws.send(_rerun(query))
            deadline = started + until_s
            while time.monotonic() < deadline:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                seen.messages += 1
                now = time.monotonic() - started
                kind = msg.WhichOneof("type")
                if trace:
                    trace(now, msg)
                if kind == "new_session":  # a run starts: a full one, or a fragment's (its ids in the metadata)
                    if not msg.metadata.run.fragment_ids:
                        cancel()  # a full run: the frontend drops every fragment timer, the run sets them again
                    page_hash = msg.new_session.page_script_hash
                elif kind == "auto_rerun":
                    fid = msg.auto_rerun.fragment_id
                    cancel([fid])
                    timers[fid] = asyncio.create_task(fragment_timer(ws, fid, msg.auto_rerun.interval))
                elif kind == "stop_auto_rerun":
                    cancel(msg.stop_auto_rerun.fragment_ids)
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    etype = element.WhichOneof("type")
                    if etype == "exception":
                        seen.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
                    elif etype == "progress":
                        seen.progress = element.progress.text
                        if "finished" in seen.progress and seen.finished_s is None:
                            seen.finished_s = now
                        seen.ended = seen.ended or next((end for end in ENDS if end in seen.progress), None)
                    elif seen.first_chart_s is None and chart_with_data(element):
                        seen.first_chart_s = now
                elif kind == "script_finished" and stop_at_end and seen.ended:
                    break  # the run that showed the end has sent all its elements (charts come after)
    except (OSError, websockets.WebSocketException) as err:
        seen.error = repr(err)
    finally:
        cancel()
    return seen


async def visit_all(url: str, links: list[str], until_s: float = 600) -> list[Visit]:
    """Many visitors at once, one link each."""
    return await asyncio.gather(*(visit(url, link, until_s) for link in links))


def run_visitors(url: str, links: list[str], until_s: float = 600) -> list[Visit]:
    """The visitors on an event loop of their own, in a thread: the caller's thread may already run one
    (Playwright's sync API keeps one running in a test session, and asyncio.run refuses to nest)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, visit_all(url, links, until_s)).result()
