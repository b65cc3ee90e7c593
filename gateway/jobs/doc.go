// Package jobs runs the gateway's side of job mode on JetStream
// (docs/protocol.md, "Job mode"): it creates the stream, the key-value
// bucket and the consumers, submits and cancels jobs, marks jobs failed
// when JetStream gives up on them, and delivers webhooks when jobs end.
// Workers use its Record, Store and ConsumerConfig, so that both sides
// read and write the same records.
package jobs
