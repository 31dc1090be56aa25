"""The lab's sample digits: a few test images with the model's guesses, refreshed at each evaluation."""

from __future__ import annotations

import streamlit as st

from bnviz.live import LiveRun
from bnviz.plots.samples import TITLE, samples_figure
from bnviz.plots.style import empty_figure
from bnviz.record import RunRecord
from bnviz.ui.live_chart import plotly_chart, prepared
from bnviz.ui.session import LabSession

CACHE_KEY = "samples"


def draw(lab: LabSession, run: LiveRun | None, record: RunRecord | None):
    """8 test digits with the guess of the lab's model, as of the record's last evaluation (and at the end).

    The model is borrowed between two training chunks (LiveRun.holding_trainer) only when the record has a
    new evaluation, so a refresh without one costs nothing.
    """
    st.subheader("Sample digits")
    if run is None or record is None:  # the empty chart in the place the digits will take
        plotly_chart(_placeholder(), key="chart.samples")
        return
    mark = (id(run), len(record.evals), record.status)
    cached = lab.cache.get(CACHE_KEY)
    if cached is None or cached[0] != mark:
        from bnviz.samples import predict_samples  # torch: only once a run exists
        with run.holding_trainer() as trainer:
            if trainer is None:  # an opened record file, or a run whose model was released: no model to ask
                st.caption("The sample digits need the model, and this run's model is not here (a record file "
                           "holds numbers, not weights).")
                return
            cached = lab.cache[CACHE_KEY] = (mark, prepared(samples_figure(predict_samples(trainer))))
    plotly_chart(cached[1], key="chart.samples")
    st.caption("The first 8 test images through the model in eval mode, updated at each evaluation: the guess "
               "in bold with its probability, the true label below; green right, red wrong.")


def _placeholder():
    figure = empty_figure(TITLE, "Press Train: 8 test digits and the model's guesses appear here.")
    figure.update_layout(height=450, margin={"t": 60, "b": 10})  # two rows of four digits, as samples_figure
    return figure
