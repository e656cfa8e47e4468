import streamlit as st

st.title("schedules")
