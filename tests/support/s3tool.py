"""Test-side S3 access, independent of tmnet: make buckets, read, write, list, delete objects.

Usage: s3tool.py ENDPOINT BUCKET COMMAND [ARGS]
  mkbucket | put KEY FILE | get KEY FILE | ls PREFIX | rm KEY
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION.
"""
import os
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, command, *args = sys.argv[1:]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}),
    )
    if command == "mkbucket":
        s3.create_bucket(Bucket=bucket)
    elif command == "put":
        key, path = args
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())
    elif command == "get":
        key, path = args
        with open(path, "wb") as f:
            f.write(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    elif command == "ls":
        (prefix,) = args
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                print(item["Key"])
    elif command == "rm":
        (key,) = args
        s3.delete_object(Bucket=bucket, Key=key)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
