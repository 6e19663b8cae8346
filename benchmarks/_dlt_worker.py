"""dlt, the peer: the inbound Parquet parts merged on the primary key into DuckDB, as Arrow tables or dicts.

Run by benchmarks/throughput.py with the throwaway venv's interpreter (dlt is never our dependency):
``python benchmarks/_dlt_worker.py '<json>'``; prints one line ``THROUGHPUT_RESULT {json}``. Like our
extract it GETs the parts from moto over HTTP. dlt refuses NULL primary keys in a merge, so rows without
one are dropped first (our pipeline quarantines them instead).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

MARKER = "THROUGHPUT_RESULT "


def main(args: dict) -> dict:
    import boto3
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt

    client = boto3.client(
        "s3",
        endpoint_url=args["moto_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = client.list_objects_v2(Bucket=args["bucket"], Prefix=args["prefix"])
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    key_column = args["primary_key"]

    @dlt.resource(name="orders", primary_key=key_column, write_disposition="merge")
    def orders():
        for key in keys:
            table = pq.read_table(
                io.BytesIO(client.get_object(Bucket=args["bucket"], Key=key)["Body"].read())
            )
            table = table.filter(pc.is_valid(table[key_column]))
            if args["items"] == "arrow":
                yield table
            else:
                yield from (batch.to_pylist() for batch in table.to_batches(max_chunksize=10_000))

    work = Path(args["folder"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pipeline = dlt.pipeline(
        pipeline_name="throughput",
        destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")),
        dataset_name="bench",
        pipelines_dir=str(work / "pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(orders())
    seconds = time.perf_counter() - started
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql("SELECT count(*) FROM orders")[0][0]
    return {"seconds": seconds, "rows": rows, "dlt": dlt.__version__}


if __name__ == "__main__":
    print(MARKER + json.dumps(main(json.loads(sys.argv[1]))), flush=True)
