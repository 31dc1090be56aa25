"""Benchmark of bnviz's trainer against a bare PyTorch loop and the article's Keras program (`make bench`)."""
