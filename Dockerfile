FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home paylink
USER paylink
EXPOSE 8000 8001
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "8", "api.wsgi:app"]
