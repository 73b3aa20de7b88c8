"""The database cache that holds the rate-limit counters when no Redis is configured (settings: CACHES["limits"])."""

import base64
import pickle  # nosec B403

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction


class CounterDatabaseCache(DatabaseCache):
    """Django's DatabaseCache, with an incr() that loses no count when workers increment at once.

    DatabaseCache.incr() reads and then writes, so two workers counting together both write n + 1.
    (Its values are pickles, as in every DatabaseCache, in a table only this site writes.)
    This one locks the row before reading it: SELECT ... FOR UPDATE on PostgreSQL; on SQLite the
    transaction takes the database's write lock at BEGIN (transaction_mode IMMEDIATE in settings).
    """

    def incr(self, key, delta=1, version=None):
        database = router.db_for_write(self.cache_model_class)
        connection = connections[database]
        quote = connection.ops.quote_name
        table, stored_key = quote(self._table), self.make_and_validate_key(key, version=version)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=database), connection.cursor() as cursor:
            # The table name is the cache's own setting, quoted; the key travels as a parameter.
            select = "SELECT 1 FROM {} WHERE {} = %s{}".format(table, quote("cache_key"), lock)  # nosec B608
            cursor.execute(select, [stored_key])
            value = self.get(key, version=version)
            if value is None:
                raise ValueError(f"Key '{key}' not found")
            value += delta
            pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            update = "UPDATE {} SET {} = %s WHERE {} = %s".format(table, quote("value"), quote("cache_key"))  # nosec B608
            cursor.execute(update, [pickled, stored_key])
        return value
