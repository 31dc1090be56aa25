"""The Streamlit layer: widgets, URL sharing and chart layout (the only bnviz package that imports streamlit)."""
