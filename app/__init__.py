"""The Streamlit dashboard (``streamlit run app/main.py``): pages over ``db.queries``, actions in ``app.actions``."""
