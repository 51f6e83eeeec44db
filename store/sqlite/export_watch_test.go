package sqlite

// Looks returns how many times l has looked for other connections'
// commits since it was opened.
func Looks(l *Log) uint64 { return l.looks.Load() }
