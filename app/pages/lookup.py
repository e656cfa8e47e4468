import streamlit as st

st.title("lookup")
