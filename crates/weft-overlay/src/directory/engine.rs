//! The directory engine: the server's message handling and the client's bookkeeping.

use std::collections::BTreeMap;

use weft_core::id::Key256;

use super::index::{Index, Limits, normalize};
use super::{
    ClientLoad, Command, Config, Event, Item, Load, MAX_BATCH, MAX_ITEM_KEYWORDS, MAX_KEYWORD_LEN,
    MAX_NAME_LEN, MAX_QUERY_KEYWORDS, MAX_RESULTS, Message, Refusal, Role,
};
use crate::kit::{Events, Outbox, Timers};
use crate::{Engine, PeerEvent, QueryId, Time};

/// The node's one named timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Server: ping the clients.
    Ping,
}

/// A directory server or client: see the [module docs](super).
#[derive(Clone, Debug)]
pub struct Directory<A> {
    me: A,
    role: Role<A>,
    config: Config,
    /// Query ids and ping nonces drawn so far.
    counter: u64,
    /// Server: the index.
    index: Index<A>,
    /// Server: when to ping the clients next.
    timers: Timers<Timer>,
    /// Client: what it shares, re-published on reconnect.
    shared: BTreeMap<Key256, Item>,
    /// Client: queries in flight, by wire id: the command's id and the deadline.
    in_flight: BTreeMap<u64, (QueryId, Time)>,
    outbox: Outbox<A, Message<A>>,
    events: Events<Event<A>>,
    load: Load,
}

impl<A: Copy + Ord + std::fmt::Debug> Directory<A> {
    /// A server or client named `me`.
    pub fn new(me: A, role: Role<A>, config: Config) -> Self {
        let limits = Limits {
            per_client: config.max_items_per_client,
            total: config.max_items_total,
            clients: config.max_clients,
            scan: config.max_scan,
        };
        Directory {
            me,
            role,
            config,
            counter: 0,
            index: Index::new(limits),
            timers: Timers::new(),
            shared: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            outbox: Outbox::new(),
            events: Events::new(),
            load: Load::default(),
        }
    }

    /// This node's name.
    pub fn local(&self) -> A {
        self.me
    }

    /// The role.
    pub fn role(&self) -> Role<A> {
        self.role
    }

    /// Server: the load so far (zero on a client, except messages counted).
    pub fn load(&self) -> Load {
        Load {
            clients: self.index.clients() as u64,
            items: self.index.items() as u64,
            postings: self.index.postings() as u64,
            ..self.load
        }
    }

    /// Server: one connected client's load, `None` if it is not connected.
    pub fn client_load(&self, peer: &A) -> Option<ClientLoad> {
        self.index.client(peer).map(|c| c.load)
    }

    /// Client: items shared.
    pub fn shared(&self) -> impl Iterator<Item = &Item> {
        self.shared.values()
    }

    /// Entries held: on a server clients, items and postings; on a client its shared items
    /// and queries in flight.
    pub fn state_size(&self) -> usize {
        self.index.clients()
            + self.index.items()
            + self.index.postings()
            + self.shared.len()
            + self.in_flight.len()
    }

    /// A connection to `peer` is up. A server registers the client (or refuses it when full);
    /// a client whose server this is publishes everything it shares.
    fn on_connected(&mut self, now: Time, peer: A) {
        match self.role {
            Role::Server => {
                if let Err(reason) = self.index.connect(peer, now) {
                    self.load.refused += 1;
                    self.send(peer, Message::Refused { reason });
                } else if self.timers.get(Timer::Ping).is_none()
                    && let Some(every) = self.config.ping_interval
                {
                    self.timers.set(Timer::Ping, now + every);
                }
            }
            Role::Client(server) if server == peer => {
                let items: Vec<Item> = self.shared.values().cloned().collect();
                for batch in items.chunks(MAX_BATCH) {
                    self.send(
                        server,
                        Message::Publish {
                            items: batch.to_vec(),
                        },
                    );
                }
            }
            Role::Client(_) => {}
        }
    }

    /// The connection to `peer` is gone. A server drops the client's items; a client fails
    /// its queries in flight when it was its server.
    fn on_disconnected(&mut self, peer: A) {
        match self.role {
            Role::Server => self.load.removed += self.index.disconnect(peer) as u64,
            Role::Client(server) if server == peer => {
                for (_, (id, _)) in std::mem::take(&mut self.in_flight) {
                    self.events.push(Event::QueryFailed { id });
                }
            }
            Role::Client(_) => {}
        }
    }

    fn send(&mut self, to: A, msg: Message<A>) {
        self.load.messages_out += 1;
        self.outbox.send(to, msg);
    }

    fn refuse(&mut self, to: A, reason: Refusal) {
        self.load.refused += 1;
        self.send(to, Message::Refused { reason });
    }

    fn server_message(&mut self, now: Time, from: A, msg: Message<A>) {
        let Some(client) = self.index.client_mut(&from) else {
            self.refuse(from, Refusal::NotConnected);
            return;
        };
        client.load.messages += 1;
        if let Err(reason) = msg.check() {
            self.refuse(from, reason);
            return;
        }
        match msg {
            Message::Publish { items } => match self.index.publish(from, items) {
                Ok(n) => self.load.published += n as u64,
                Err(reason) => self.refuse(from, reason),
            },
            Message::Unpublish { hashes } => {
                self.load.removed += self.index.unpublish(from, &hashes) as u64
            }
            Message::Query {
                query,
                keywords,
                max,
            } => {
                let max = usize::from(max)
                    .min(self.config.max_results)
                    .min(MAX_RESULTS);
                let (hits, more, scanned) = self.index.query(from, &normalize(&keywords), max, now);
                self.load.queries += 1;
                self.load.scanned += scanned as u64;
                self.load.last_query_scanned = scanned as u64;
                if let Some(c) = self.index.client_mut(&from) {
                    c.load.queries += 1;
                    c.load.scanned += scanned as u64;
                }
                self.send(from, Message::Results { query, hits, more });
            }
            Message::Pong { nonce } => {
                let sent = self
                    .index
                    .client_mut(&from)
                    .and_then(|c| c.ping.take_if(|p| p.0 == nonce));
                if let Some((_, at)) = sent {
                    self.index.observe_rtt(from, now.saturating_since(at));
                }
            }
            Message::Results { .. } | Message::Ping { .. } | Message::Refused { .. } => {
                self.load.refused += 1
            }
        }
    }

    fn client_message(&mut self, from: A, msg: Message<A>) {
        if self.role != Role::Client(from) || msg.check().is_err() {
            self.load.refused += 1;
            return;
        }
        match msg {
            Message::Results { query, hits, more } => match self.in_flight.remove(&query) {
                Some((id, _)) => self.events.push(Event::Results { id, hits, more }),
                None => self.load.refused += 1,
            },
            Message::Ping { nonce } => self.send(from, Message::Pong { nonce }),
            Message::Refused { reason } => self.events.push(Event::ServerRefused { reason }),
            _ => self.load.refused += 1,
        }
    }

    fn check_item(item: &Item) -> Result<(), Refusal> {
        if item.keywords.len() > MAX_ITEM_KEYWORDS {
            return Err(Refusal::TooMany);
        }
        if item.name.len() > MAX_NAME_LEN
            || item
                .keywords
                .iter()
                .any(|k| k.is_empty() || k.len() > MAX_KEYWORD_LEN)
        {
            return Err(Refusal::BadString);
        }
        Ok(())
    }

    fn client_command(
        &mut self,
        now: Time,
        id: QueryId,
        server: A,
        cmd: Command,
    ) -> Result<(), Refusal> {
        match cmd {
            Command::Publish(items) => {
                items.iter().try_for_each(Self::check_item)?;
                let fresh = items
                    .iter()
                    .filter(|i| !self.shared.contains_key(&i.hash))
                    .count();
                if self.shared.len() + fresh > self.config.max_items_per_client {
                    return Err(Refusal::Full);
                }
                let items: Vec<Item> = items
                    .into_iter()
                    .map(|i| Item {
                        keywords: normalize(&i.keywords),
                        ..i
                    })
                    .collect();
                for i in &items {
                    self.shared.insert(i.hash, i.clone());
                }
                for batch in items.chunks(MAX_BATCH) {
                    self.send(
                        server,
                        Message::Publish {
                            items: batch.to_vec(),
                        },
                    );
                }
            }
            Command::Unpublish(hashes) => {
                for h in &hashes {
                    self.shared.remove(h);
                }
                for batch in hashes.chunks(MAX_BATCH) {
                    self.send(
                        server,
                        Message::Unpublish {
                            hashes: batch.to_vec(),
                        },
                    );
                }
            }
            Command::Query { keywords, max } => {
                let keywords = normalize(&keywords);
                if keywords.is_empty() || keywords.iter().any(|k| k.len() > MAX_KEYWORD_LEN) {
                    return Err(Refusal::BadString);
                }
                if keywords.len() > MAX_QUERY_KEYWORDS
                    || self.in_flight.len() >= self.config.max_queries_in_flight
                {
                    return Err(Refusal::TooMany);
                }
                self.counter += 1;
                let query = self.counter;
                self.in_flight
                    .insert(query, (id, now + self.config.query_timeout));
                let max = max.min(MAX_RESULTS as u16);
                self.send(
                    server,
                    Message::Query {
                        query,
                        keywords,
                        max,
                    },
                );
            }
        }
        Ok(())
    }
}

impl<A: Copy + Ord + std::fmt::Debug> Engine for Directory<A> {
    type Addr = A;
    type Message = Message<A>;
    type Command = Command;
    type Event = Event<A>;

    fn handle_message(&mut self, now: Time, from: A, msg: Message<A>) {
        self.load.messages_in += 1;
        match self.role {
            Role::Server => self.server_message(now, from, msg),
            Role::Client(_) => self.client_message(from, msg),
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, q)| q.1 <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some((id, _)) = self.in_flight.remove(&k) {
                self.events.push(Event::QueryFailed { id });
            }
        }
        if let Some(interval) = self.config.ping_interval
            && self.timers.is_due(Timer::Ping, now)
        {
            self.timers.set(Timer::Ping, now + interval);
            let clients: Vec<A> = self.index.client_addrs().collect();
            for c in clients {
                self.counter += 1;
                let nonce = self.counter;
                if let Some(client) = self.index.client_mut(&c) {
                    client.ping = Some((nonce, now));
                }
                self.send(c, Message::Ping { nonce });
            }
        }
    }

    /// Connected: a server registers the client (or refuses it when full); a client whose
    /// server this is publishes everything it shares. Disconnected: a server drops the
    /// client's items; a client fails its queries in flight when it was its server.
    /// Unreachable: a client whose server cannot be reached fails its queries at once.
    fn handle_peer(&mut self, now: Time, peer: A, event: PeerEvent) {
        match event {
            PeerEvent::Connected => self.on_connected(now, peer),
            PeerEvent::Disconnected => self.on_disconnected(peer),
            PeerEvent::Unreachable => {
                if self.role == Role::Client(peer) {
                    self.on_disconnected(peer);
                }
            }
        }
    }

    /// Only [`Command::Query`] is a query; a refused publish or unpublish is reported with
    /// no id.
    fn handle_command(&mut self, now: Time, cmd: Command) -> Option<QueryId> {
        self.counter += 1;
        let id = QueryId(self.counter);
        let query = matches!(cmd, Command::Query { .. }).then_some(id);
        let result = match self.role {
            Role::Client(server) => self.client_command(now, id, server, cmd),
            Role::Server => Err(Refusal::NotConnected),
        };
        if let Err(reason) = result {
            self.events.push(Event::Refused { id: query, reason });
        }
        query
    }

    fn poll_transmit(&mut self) -> Option<(A, Message<A>)> {
        self.outbox.pop()
    }

    fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.pop()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let queries = self.in_flight.values().map(|q| q.1).min();
        [queries, self.timers.next()].into_iter().flatten().min()
    }
}
