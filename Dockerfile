# Runs the dashboard as uid 1000 on port 7860 (Hugging Face Docker Space conventions).
FROM python:3.12-slim
RUN useradd -m -u 1000 user
WORKDIR /home/user/app
COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=user . .
USER user
ENV GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    TL_HOME=/home/user/tl_data \
    PYTHONUNBUFFERED=1
EXPOSE 7860
CMD ["python", "app.py"]
