"""Extensions that run inside the Rasa server (`rasa run`, in .venv-rasa), not in the app."""
