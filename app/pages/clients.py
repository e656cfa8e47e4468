import streamlit as st

st.title("clients")
