import streamlit as st

st.title("webhooks")
