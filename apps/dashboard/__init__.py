"""The Streamlit surface: page wiring (``pages``) and the impact overview (``overview``).

``streamlit_app.py`` only starts it. Nothing is imported here, so tests can import one module
without loading Streamlit.
"""
