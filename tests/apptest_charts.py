"""The charts an AppTest page shows, read from the in-place chart component (bnviz.ui.live_chart)."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def charts(at: AppTest) -> dict[str, dict]:
    """{user key: plotly figure}, in page order. Must not happen: a chart drawn with st.plotly_chart, which
    the browser rebuilds at every update (the pages use the in-place component, served by the project's
    .streamlit/config.toml)."""
    assert not at.get("plotly_chart")
    elements = [e for e in at.get("bidi_component") if e.proto.component_name == "bnviz_live_chart"]
    # An element id is "$$ID-<hash>-<user key>".
    return {e.proto.id.split("-", 2)[2]: json.loads(json.loads(e.proto.json)["figure"]) for e in elements}
