FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 wget \
 && rm -rf /var/lib/apt/lists/*
COPY standin.py /standin.py
ENTRYPOINT ["python3", "-u", "/standin.py"]
