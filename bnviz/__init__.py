"""bnviz: an interactive lab for Batch Normalization: config, data, models, recorder, trainer, records, plots."""
