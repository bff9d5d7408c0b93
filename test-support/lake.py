"""moto's server, made faithful to Glue where the engines' catalogs need it:

- Glue's column statistics for tables, which moto lacks and Trino's hive catalog
  writes with every table it creates (kept in memory like the rest of moto's Glue;
  partitions' statistics are not kept);
- a table's storage descriptor comes back with Glue's defaults for what its creator
  left out (no buckets, not compressed), as prestodb's hive catalog expects: moto
  returns only what was sent, and prestodb fails reading its own new table.

Each Glue action called is appended to CALLS, one name a line, so that a test can
hold the nodes' IAM policy against what the engines really call.

Usage: lake.py HOST PORT CALLS
"""

import json
import sys

from moto.glue.models import GlueBackend
from moto.glue.responses import GlueResponse
from moto.server import main
from werkzeug.serving import WSGIRequestHandler

STATISTICS = {}


def _table(response):
    return (response.parameters.get("DatabaseName"), response.parameters.get("TableName"))


def update_column_statistics_for_table(self):
    kept = STATISTICS.setdefault(_table(self), {})
    for statistics in self.parameters.get("ColumnStatisticsList", []):
        kept[statistics["ColumnName"]] = statistics
    return json.dumps({"Errors": []})


def get_column_statistics_for_table(self):
    kept = STATISTICS.get(_table(self), {})
    names = self.parameters.get("ColumnNames", [])
    return json.dumps({
        "ColumnStatisticsList": [kept[n] for n in names if n in kept],
        "Errors": [],
    })


def delete_column_statistics_for_table(self):
    STATISTICS.get(_table(self), {}).pop(self.parameters.get("ColumnName"), None)
    return json.dumps({})


GlueResponse.update_column_statistics_for_table = update_column_statistics_for_table
GlueResponse.get_column_statistics_for_table = get_column_statistics_for_table
GlueResponse.delete_column_statistics_for_table = delete_column_statistics_for_table

# What Glue fills in a storage descriptor its caller left out.
STORAGE_DEFAULTS = {"NumberOfBuckets": 0, "Compressed": False, "StoredAsSubDirectories": False}


def with_storage_defaults(method):
    def write(self, database_name, table_name, table_input, *rest):
        storage = table_input.get("StorageDescriptor")
        if storage is not None:
            for key, value in STORAGE_DEFAULTS.items():
                storage.setdefault(key, value)
        return method(self, database_name, table_name, table_input, *rest)
    return write


GlueBackend.create_table = with_storage_defaults(GlueBackend.create_table)
GlueBackend.update_table = with_storage_defaults(GlueBackend.update_table)

# Trino's exchange uploads through the AWS SDK's asynchronous client, which sends
# `Expect: 100-continue` with the body at once and takes an interim `100 Continue`
# for the answer; werkzeug sends one to every such request, S3 does not. So the
# header is dropped before werkzeug sees it.
run_wsgi = WSGIRequestHandler.run_wsgi


def without_interim_continue(self):
    del self.headers["Expect"]
    return run_wsgi(self)


WSGIRequestHandler.run_wsgi = without_interim_continue

host, port, calls = sys.argv[1:]
call_action = GlueResponse.call_action


def recorded(self):
    with open(calls, "a") as out:
        out.write(self._get_action() + "\n")
    return call_action(self)


GlueResponse.call_action = recorded
main(["-H", host, "-p", port])
