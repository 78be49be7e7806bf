package redisstore

// RecordKeyForTest and LockKeyForTest are the Redis keys of an account.
func RecordKeyForTest(s *Store, key string) string { return s.recordKey(key) }
func LockKeyForTest(s *Store, key string) string   { return s.lockKey(key) }
