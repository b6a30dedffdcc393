"""The seed's tracking module, re-created as the benchmark baseline.

This is the design privtrack replaces, as the old tracker's setup guide (not
part of this repository) describes it: one DynamoDB item per visit, written
with boto3 ``put_item`` from a new thread per write, and the guide's
suggested ``sha256(ip)[:16]`` "anonymisation".  It is kept deliberately
faithful, flaws included (no retry, no batching, a microsecond collision
overwrites an item); only what the benchmark needs to drive it (an endpoint
override and a table name argument) was added.

Use Debian's python3-boto3: run with /usr/bin/python3.
"""

import logging
import os
import threading

import boto3
from boto3.dynamodb.conditions import Key

# The record and the "anonymisation" live in visit_record.py so that the
# file-store baseline can use them without loading boto3.
from visit_record import anonymize_ip, create_visit_record  # noqa: F401

logger = logging.getLogger("dynamodb_tracker")

TABLE_NAME = os.environ.get("DYNAMODB_TABLE_NAME", "link-downloader-visits")
AWS_REGION = os.environ.get("AWS_REGION", "us-east-1")


def get_dynamodb_resource(endpoint_url=None):
    return boto3.resource(
        "dynamodb",
        region_name=AWS_REGION,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
    )


def create_dynamodb_table_if_not_exists(resource, table_name=TABLE_NAME):
    """The seed's table: date (HASH, S), timestamp (RANGE, S), on demand."""
    client = resource.meta.client
    try:
        client.describe_table(TableName=table_name)
    except client.exceptions.ResourceNotFoundException:
        client.create_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": "date", "AttributeType": "S"},
                {"AttributeName": "timestamp", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "date", "KeyType": "HASH"},
                {"AttributeName": "timestamp", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
    return resource.Table(table_name)


def save_visit_record(table, record):
    try:
        table.put_item(Item=record)
        logger.debug("Saved visit record to DynamoDB: %s", record["session_id"])
    except Exception as exc:  # the seed: log and lose the record
        logger.warning("DynamoDB not available: %s", exc)


def track_visit_async(table, record):
    """The seed's request path: one new thread per write, fire and forget."""
    thread = threading.Thread(target=save_visit_record, args=(table, record))
    thread.daemon = True
    thread.start()
    return thread


def query_visits_by_date(table, date, limit=100):
    response = table.query(
        KeyConditionExpression=Key("date").eq(date),
        ScanIndexForward=False,
        Limit=limit,
    )
    return response.get("Items", [])
