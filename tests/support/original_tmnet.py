"""A model of the original Python tmnet script's storage behaviour, for interop tests.

It reproduces what ../shared/DESIGN.md records about the original: the index
`<env>/_tmnet.json` maps abbreviated SHAs (`git log --format=%h`) to lists of file names, each
file is stored raw at `<env>/<sha>_<filename>`, restore looks only at the last 10 commits and
looks keys up by equality, upload read-modify-writes the index (index first, then the file).

Usage: original_tmnet.py ENV [--upload]   (run in the project root)
Bucket and endpoint come from ORIG_ENDPOINT / ORIG_BUCKET, credentials from AWS_* variables.
"""
import json
import os
import subprocess
import sys

import boto3
from botocore.config import Config


def git(*args):
    return subprocess.check_output(["git", *args], text=True).split()


def main():
    env = sys.argv[1]
    upload = "--upload" in sys.argv[2:]
    bucket = os.environ["ORIG_BUCKET"]
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["ORIG_ENDPOINT"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}),
    )
    datafile = os.environ.get("TESTMON_DATAFILE", ".testmondata")
    index_key = f"{env}/_tmnet.json"
    try:
        index = json.loads(s3.get_object(Bucket=bucket, Key=index_key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        index = {}
    if upload:
        sha = git("log", "-1", "--format=%h")[0]
        name = os.path.basename(datafile)
        index[sha] = [name]
        s3.put_object(Bucket=bucket, Key=index_key, Body=json.dumps(index).encode())
        with open(datafile, "rb") as f:
            s3.put_object(Bucket=bucket, Key=f"{env}/{sha}_{name}", Body=f.read())
        print(f"uploaded {sha}")
        return
    for sha in git("log", "-10", "--format=%h"):
        if sha in index:
            for name in index[sha]:
                body = s3.get_object(Bucket=bucket, Key=f"{env}/{sha}_{name}")["Body"].read()
                with open(name, "wb") as f:
                    f.write(body)
            print(f"restored {sha}")
            return
    print("miss")


if __name__ == "__main__":
    main()
