//! The Hayes side of the line: AT events, dialling, answering, rings.

use std::io::Write;
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

use super::call::dial_tcp;
use super::{ANSWER_TIME, Call, ModemLine, Msg};
use crate::modem::cid;
use crate::modem::dial::DialMode;
use std::os::fd::OwnedFd;

use super::online;
use crate::modem::wire::Wire;
use crate::proto::at::{self, AtEvent, ResultCode};

impl ModemLine {
    pub(super) fn send_dte(&mut self, b: &[u8]) {
        if self.slave_open && self.master.is_some() {
            self.to_dte.extend_from_slice(b);
        }
    }

    pub(super) fn result(&mut self, code: ResultCode) {
        let b = self.at.format(code);
        self.send_dte(&b);
    }

    pub(super) fn at_events(&mut self, evs: Vec<AtEvent>) {
        for e in evs {
            match e {
                AtEvent::Echo(v) | AtEvent::Info(v) => self.send_dte(&v),
                AtEvent::Command(c) => log::debug!("modem: command {c:?}"),
                AtEvent::Result(c) => self.result(c),
                AtEvent::Answer => self.answer(),
                AtEvent::Hangup => self.hangup(),
                AtEvent::OffHook => self.off_hook(),
                AtEvent::Online => {
                    if self.call.is_some() {
                        self.go_online();
                    } else {
                        self.result(ResultCode::NoCarrier);
                    }
                }
                AtEvent::Reset => {
                    self.at.set_s_reg(at::S_AUTO_ANSWER, self.set.rings);
                    self.hangup();
                }
                AtEvent::Dial(number) => self.dial(&number),
            }
        }
    }

    pub(super) fn go_online(&mut self) {
        self.online = true;
        self.at.enter_online(self.now());
        self.result(ResultCode::Connect(Some(self.set.speed)));
    }

    pub(super) fn dial(&mut self, number: &str) {
        if self.call.is_some() || self.dialing.is_some() {
            self.result(ResultCode::Error);
            return;
        }
        if self.incoming.is_some() {
            // the line is ringing: no dial tone
            self.result(ResultCode::NoDialtone);
            return;
        }
        let Some(target) = self.set.phonebook.resolve(number) else {
            log::info!("modem: dial {number:?}: no such number");
            self.result(ResultCode::NoCarrier);
            return;
        };
        if self.set.dial.phonebook_only && !target.listed {
            log::info!("modem: dial {number:?}: not in the phonebook (--phonebook-only)");
            self.result(ResultCode::NoCarrier);
            return;
        }
        if let Err(first) = self.dial_limit.admit(self.now()) {
            if first {
                log::warn!(
                    "modem: dial {number:?}: over --dial-limit ({} a minute), refused",
                    self.set.dial_limit
                );
            }
            self.result(ResultCode::NoDialtone);
            return;
        }
        log::info!("modem: dial {number:?}: {}", target.addr);
        let policy = self.set.dial.clone();
        self.seq += 1;
        let seq = self.seq;
        self.dialing = Some(seq);
        let wait = Duration::from_secs(u64::from(self.at.s_reg(at::S_CARRIER_WAIT)).max(1));
        let tx = self.tx.clone();
        let wake = self.wake_tx.try_clone();
        let telnet = target
            .mode
            .map_or(self.set.telnet, |m| m == DialMode::Telnet);
        let spawned = std::thread::Builder::new()
            .name("modem-dial".into())
            .spawn(move || {
                let res = dial_tcp(&target, wait, &policy).map(|s| (s, telnet));
                if tx.send(Msg::Dialed(seq, res)).is_ok() {
                    if let Ok(mut w) = wake {
                        let _ = w.write(&[1]);
                    }
                }
            });
        if spawned.is_err() {
            self.dialing = None;
            self.result(ResultCode::NoCarrier);
        }
    }

    pub(super) fn dialed(&mut self, seq: u64, res: Result<(TcpStream, bool), ResultCode>) {
        if self.dialing != Some(seq) {
            return; // aborted
        }
        self.dialing = None;
        match res {
            Ok((stream, telnet)) => {
                let _ = stream.set_nonblocking(true);
                let _ = stream.set_nodelay(true);
                let mut to_remote = Vec::new();
                let wire = if telnet {
                    Wire::telnet(false, &mut to_remote)
                } else {
                    Wire::raw()
                };
                self.connect(stream, wire, None, to_remote, Vec::new());
            }
            Err(code) => self.result(code),
        }
    }

    pub(super) fn answer(&mut self) {
        if self.call.is_some() {
            self.result(ResultCode::Error);
        } else if self.incoming.is_none() {
            self.result(ResultCode::NoCarrier);
        } else {
            self.connect_at = Some(self.now() + ANSWER_TIME);
        }
    }

    pub(super) fn answer_now(&mut self) {
        let Some(i) = self.incoming.take() else {
            self.result(ResultCode::NoCarrier);
            return;
        };
        self.at.clear_rings();
        self.connect(i.stream, i.wire, Some(i.peer), i.out, i.early);
    }

    pub(super) fn connect(
        &mut self,
        stream: TcpStream,
        wire: Wire,
        peer: Option<IpAddr>,
        to_remote: Vec<u8>,
        early: Vec<u8>,
    ) {
        let now = self.now();
        let throttle = self.set.throttle.then_some(self.set.speed);
        let gate = online::gate(self.start, throttle, now);
        let opened = match self.master.as_ref().map(OwnedFd::try_clone) {
            Some(Ok(m)) => online::open(m, stream.into(), wire, to_remote, &early, &gate),
            Some(Err(e)) => Err(e),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        };
        let (pump, fd) = match opened {
            Ok(p) => p,
            Err(e) => {
                log::warn!("modem: cannot start the call: {e}");
                self.result(ResultCode::NoCarrier);
                return;
            }
        };
        self.seq += 1;
        self.call = Some(Call {
            pump,
            sc: Default::default(),
            fd,
            generation: self.seq,
            peer,
            gate,
            more: false,
        });
        log::info!("modem: online");
        self.go_online();
    }

    pub(super) fn ring_due(&mut self, now: Duration) {
        let Some(i) = &self.incoming else { return };
        let due = match i.next_ring {
            Some(t) => t <= now,
            None => self.first_ring_time(i) <= now,
        };
        if !due || self.connect_at.is_some() {
            return;
        }
        let first = i.next_ring.is_none();
        let cid = if first {
            let name = i.name.clone().unwrap_or_else(|| i.peer.to_string());
            cid::lines(self.set.caller_id, &i.peer.to_string(), &name, epoch_secs())
        } else {
            Vec::new()
        };
        let answer = self.at.ring(now);
        if let Some(i) = &mut self.incoming {
            i.next_ring = Some(now + self.set.ring_interval);
        }
        self.result(ResultCode::Ring);
        self.send_dte(&cid);
        if answer {
            self.connect_at = Some(now + ANSWER_TIME);
        }
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
