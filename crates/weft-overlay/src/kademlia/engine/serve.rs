//! Serving: the answers a node gives to other nodes' requests (find node, values, providers, postings; stores).

use super::*;

impl<K: KadKey, A: Copy + Ord + std::fmt::Debug> Kademlia<K, A> {
    pub(super) fn answer(&mut self, now: Time, from: A, sender: K, body: Body<K, A>) {
        match body {
            Body::Ping { req } => self.send(from, Body::Pong { req }),
            Body::Pong { req } => self.pings.retain(|p| !(p.req == req && p.lru.addr == from)),
            Body::FindNode { req, target } => {
                let closer = self.closer(&target, &sender);
                self.send(from, Body::Nodes { req, closer });
            }
            Body::GetRecord { req, key } => {
                let record = self.store.get(&key, now).map(|r| WireRecord {
                    value: r.value.to_vec(),
                    ttl_secs: secs(r.expires.saturating_since(now)),
                });
                let closer = self.closer(&key, &sender);
                self.send(
                    from,
                    Body::Record {
                        req,
                        record,
                        closer,
                    },
                );
            }
            Body::PutRecord { req, key, record } => {
                let expires = now + self.ttl(record.ttl_secs);
                let rec = StoredRecord {
                    value: record.value.into_boxed_slice(),
                    expires,
                    origin: Origin::Remote,
                };
                let stored = self.store.put(key, rec, self.config.max_records);
                self.timers
                    .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
                self.send(from, Body::PutAck { req, stored });
            }
            Body::AddProvider { key, ttl_secs } => {
                let p = Provider {
                    contact: Contact {
                        key: sender,
                        addr: from,
                    },
                    expires: now + self.ttl(ttl_secs),
                };
                self.store
                    .add_provider(key, p, self.config.max_provider_keys, self.config.k);
                self.timers
                    .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
            }
            Body::GetProviders { req, key } => {
                let providers = self.store.providers(&key, now, self.config.k);
                let closer = self.closer(&key, &sender);
                self.send(
                    from,
                    Body::Providers {
                        req,
                        providers,
                        closer,
                    },
                );
            }
            Body::StorePostings {
                req,
                key,
                ttl_secs,
                values,
            } => {
                let publisher = Contact {
                    key: sender,
                    addr: from,
                };
                let expires = now + self.ttl(ttl_secs);
                let stored = self.hold_postings(now, key, publisher, &values, expires);
                self.send(from, Body::PutAck { req, stored });
            }
            Body::GetPostings { req, key } => {
                let (postings, more) = self.held_postings(&key, now);
                let closer = self.closer(&key, &sender);
                self.send(
                    from,
                    Body::Postings {
                        req,
                        postings,
                        closer,
                        more,
                    },
                );
            }
            Body::Nodes { req, closer } => self.on_reply(now, from, req, closer, Payload::None),
            Body::Record {
                req,
                record,
                closer,
            } => {
                let payload = record.map_or(Payload::None, |r| Payload::Value(r.value));
                self.on_reply(now, from, req, closer, payload);
            }
            Body::Providers {
                req,
                providers,
                closer,
            } => {
                self.on_reply(now, from, req, closer, Payload::Providers(providers));
            }
            Body::Postings {
                req,
                postings,
                closer,
                more,
            } => {
                self.on_reply(now, from, req, closer, Payload::Postings(postings, more));
            }
            Body::PutAck { req, stored } => self.on_ack(now, from, req, stored),
        }
    }
}
