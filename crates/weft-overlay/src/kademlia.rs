//! kademlia engine (being built).
