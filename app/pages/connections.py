import streamlit as st

st.title("connections")
