"""moto's S3 server on 127.0.0.1 for the benchmarks that run against S3."""
import os
import socket
import subprocess
import time

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    """moto on a free port, once it answers: its process, a boto3 client, and the
    environment that points stickerlake at it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    deadline = time.time() + 30
    while True:
        try:
            s3.list_buckets()
            return process, s3, env
        except Exception:
            if time.time() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
