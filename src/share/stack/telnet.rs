//! The telnet layer: `IAC` escaping both ways, option negotiation answered here, `IAC BRK`
//! as [`Control::BreakPulse`], sub-negotiations as [`Control::Sub`] for the layer above
//! (RFC 2217's COM-PORT), negotiations as [`Control::Negotiated`].

use std::cell::RefCell;
use std::io::{self, ErrorKind};

use super::{Control, Layer, LayerArgs, Side, push_down};
use crate::proto::telnet::{self, Decoder, Event, Options, Verb, cmd, opt};

/// Largest chunk of data taken by one write (escaped, at most twice as long).
const CHUNK: usize = 64 * 1024;

thread_local! {
    /// Decoded input, shared by the telnet layers of one thread (one pump).
    static DECODED: RefCell<(Vec<u8>, Vec<Event>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Telnet over the layer below.
#[derive(Debug)]
pub struct Telnet {
    below: Box<dyn Layer>,
    dec: Decoder,
    /// Options we enable on our side, and those we accept on the peer's.
    local: Vec<u8>,
    remote: Vec<u8>,
    /// Built by [`Layer::start`] (or the first read).
    opts: Option<Options>,
    /// Escaped data, negotiation answers and sub-negotiations not yet pushed down.
    held: Vec<u8>,
    /// The last read from below came back short.
    short: bool,
    /// `IAC DM` (a telnet SYNC) is a break too (ser2net's `telnet-brk-on-sync`).
    dm_break: bool,
}

/// The `telnet` entry of [`super::LAYERS`]: BINARY and SGA both ways; the server offers
/// ECHO, the client accepts it.
pub fn build(args: &LayerArgs<'_>, below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
    Ok(Box::new(telnet(args, below, false)))
}

/// The `telnet-brk-on-sync` entry of [`super::LAYERS`]: `telnet` where a SYNC (`IAC DM`)
/// also sends a break, as ser2net's `telnet-brk-on-sync: true` does.
pub fn build_brk_on_sync(
    args: &LayerArgs<'_>,
    below: Box<dyn Layer>,
) -> io::Result<Box<dyn Layer>> {
    Ok(Box::new(telnet(args, below, true)))
}

fn telnet(args: &LayerArgs<'_>, below: Box<dyn Layer>, dm_break: bool) -> Telnet {
    let (local, remote) = match args.side {
        Side::Server => (
            vec![opt::BINARY, opt::SGA, opt::ECHO],
            vec![opt::BINARY, opt::SGA],
        ),
        Side::Client => (
            vec![opt::BINARY, opt::SGA],
            vec![opt::BINARY, opt::SGA, opt::ECHO],
        ),
    };
    Telnet {
        below,
        dec: Decoder::new(),
        local,
        remote,
        opts: None,
        held: Vec::new(),
        short: false,
        dm_break,
    }
}

impl Telnet {
    fn opts(&mut self) -> &mut Options {
        self.opts
            .get_or_insert_with(|| Options::new(&self.local, &self.remote))
    }

    /// Turn decoded telnet events into control events, answering negotiations.
    fn events(&mut self, tev: &mut Vec<Event>, events: &mut Vec<Control>) {
        for ev in tev.drain(..) {
            match ev {
                Event::Negotiate(verb, option) => {
                    let mut answer = std::mem::take(&mut self.held);
                    let o = self.opts();
                    o.handle(verb, option, &mut answer);
                    let enabled = o.remote_enabled(option);
                    self.held = answer;
                    events.push(Control::Negotiated {
                        option,
                        will: verb == Verb::Will,
                        enabled,
                    });
                }
                Event::Command(cmd::BRK) => events.push(Control::BreakPulse),
                Event::Command(cmd::DM) if self.dm_break => events.push(Control::BreakPulse),
                Event::Command(_) => {}
                Event::Sub {
                    option, payload, ..
                } => events.push(Control::Sub { option, payload }),
            }
        }
    }
}

impl Layer for Telnet {
    fn name(&self) -> &'static str {
        "telnet"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        let k = self.below.read(buf, events)?;
        self.short = k < buf.len();
        if k == 0 {
            return Ok(0);
        }
        DECODED.with_borrow_mut(|(data, tev)| {
            data.clear();
            self.dec.feed(&buf[..k], data, tev);
            buf[..data.len()].copy_from_slice(data);
            self.events(tev, events);
            match data.len() {
                0 => Err(ErrorKind::Interrupted.into()),
                n => Ok(n),
            }
        })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.held.is_empty() && !push_down(&mut self.held, self.below.as_mut())? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(CHUNK);
        telnet::escape_into(&data[..n], &mut self.held);
        push_down(&mut self.held, self.below.as_mut())?;
        Ok(n)
    }

    fn control(&mut self, c: Control) -> io::Result<()> {
        match c {
            Control::Sub { option, payload } => {
                telnet::subnegotiation(option, &payload, &mut self.held);
                Ok(())
            }
            Control::BreakPulse => {
                self.held.extend_from_slice(&[cmd::IAC, cmd::BRK]);
                Ok(())
            }
            c => self.below.control(c),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        self.below.start()?;
        if self.opts.is_none() {
            let mut o = Options::new(&self.local, &self.remote);
            o.start(&mut self.held);
            self.opts = Some(o);
        }
        Ok(())
    }

    fn want_option(&mut self, option: u8) -> bool {
        for v in [&mut self.local, &mut self.remote] {
            if !v.contains(&option) {
                v.push(option);
            }
        }
        true
    }

    fn flush(&mut self) -> io::Result<bool> {
        push_down(&mut self.held, self.below.as_mut())
    }

    fn held(&self) -> usize {
        self.held.len() + self.below.held()
    }

    fn drained(&self) -> bool {
        self.short && self.below.drained()
    }
}
