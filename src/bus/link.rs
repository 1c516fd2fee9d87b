//! What kind of network interface a name is, as the kernel says (rtnetlink).
//!
//! Whether an interface is virtual decides whether a command may send on it without asking
//! (the consent policy of the command line). The kernel's own answer is the link kind of
//! `RTM_GETLINK` (`IFLA_LINKINFO` / `IFLA_INFO_KIND`, see `include/uapi/linux/if_link.h` and
//! rtnetlink(7)): `vcan` and `vxcan` have no hardware behind them; CAN drivers registered with
//! `register_candev` report `can`, and anything else (an unknown kind, no kind at all, an
//! answer we cannot read) counts as real hardware. The path `/sys/devices/virtual/net/<if>` is
//! not used: slcan and other tty-based adapters are real but appear there.
//!
//! [`query`] asks the kernel (one netlink socket per call); [`parse_getlink_reply`] and
//! [`LinkKind::from_kind`] are pure, and unit-tested on the kernel's answers.

use std::io;

/// An interface's link kind, as far as sending is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// `vcan` or `vxcan`: no hardware, no car.
    Virtual(String),
    /// Anything else: the kind the kernel reported (`can`, `slcan`...), or `None` when it
    /// reported none.
    Real(Option<String>),
}

impl LinkKind {
    /// The decision from the kernel's `IFLA_INFO_KIND` string (if any).
    pub fn from_kind(kind: Option<&str>) -> LinkKind {
        match kind {
            Some(k @ ("vcan" | "vxcan")) => LinkKind::Virtual(k.to_string()),
            other => LinkKind::Real(other.map(str::to_string)),
        }
    }

    /// Whether frames sent here can reach hardware.
    pub fn is_virtual(&self) -> bool {
        matches!(self, LinkKind::Virtual(_))
    }

    /// `vcan`, `can`, `no link kind`: for messages.
    pub fn describe(&self) -> String {
        match self {
            LinkKind::Virtual(k) => k.clone(),
            LinkKind::Real(Some(k)) => k.clone(),
            LinkKind::Real(None) => "no link kind".to_string(),
        }
    }
}

/// Why the kernel's answer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No interface by that name.
    #[error("no network interface `{0}`")]
    NotFound(String),
    /// The name cannot be an interface name (empty, too long, a NUL byte).
    #[error("`{0}` is not a valid interface name")]
    BadName(String),
    /// The netlink exchange failed.
    #[error("asking the kernel about `{iface}` failed: {source}")]
    Io {
        iface: String,
        #[source]
        source: io::Error,
    },
}

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLM_F_REQUEST: u16 = 1;
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
/// The nested flag of an attribute type.
const NLA_TYPE_MASK: u16 = 0x3FFF;

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The attributes in `b` as (type without flags, payload).
fn attributes(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, 0)?);
        let kind = u16_at(b, 2)? & NLA_TYPE_MASK;
        if len < 4 {
            return None;
        }
        let payload = b.get(4..len)?;
        b = b.get(align4(len)..).unwrap_or_default();
        Some((kind, payload))
    })
}

/// The `RTM_GETLINK` request for `name` (by name: `IFLA_IFNAME`).
fn getlink_request(name: &str, seq: u32) -> Vec<u8> {
    let name_attr_len = 4 + name.len() + 1;
    let total = NLMSG_HDRLEN + IFINFOMSG_LEN + align4(name_attr_len);
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // ifinfomsg: family AF_UNSPEC, pad, type, index 0 (by name), flags, change.
    m.extend_from_slice(&[0u8; IFINFOMSG_LEN]);
    m.extend_from_slice(&(name_attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    m.resize(total, 0);
    m
}

/// What a reply says.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The link exists; its `IFLA_INFO_KIND`, if any.
    Link(Option<String>),
    /// The kernel answered with an error (a negative errno; `-ENODEV` for no such interface).
    Error(i32),
    /// Not an answer to the request (another sequence number, a message we do not read).
    Unrelated,
}

/// Reads the first message of a reply to `RTM_GETLINK` with sequence number `seq`. Pure: the
/// kernel's bytes in, the answer out; malformed replies are `None`.
pub fn parse_getlink_reply(b: &[u8], seq: u32) -> Option<Reply> {
    let len = usize::try_from(u32_at(b, 0)?).ok()?;
    let kind = u16_at(b, 4)?;
    let msg_seq = u32_at(b, 8)?;
    let msg = b.get(..len)?;
    if msg_seq != seq {
        return Some(Reply::Unrelated);
    }
    match kind {
        NLMSG_ERROR => Some(Reply::Error(i32_at(msg, NLMSG_HDRLEN)?)),
        RTM_NEWLINK => {
            let attrs = msg.get(NLMSG_HDRLEN + IFINFOMSG_LEN..)?;
            let kind = attributes(attrs)
                .find(|(t, _)| *t == IFLA_LINKINFO)
                .and_then(|(_, info)| attributes(info).find(|(t, _)| *t == IFLA_INFO_KIND))
                .map(|(_, k)| {
                    let k = k.split(|&c| c == 0).next().unwrap_or_default();
                    String::from_utf8_lossy(k).into_owned()
                });
            Some(Reply::Link(kind))
        }
        NLMSG_DONE => Some(Reply::Error(-libc::ENODEV)),
        _ => Some(Reply::Unrelated),
    }
}

/// Asks the kernel for `iface`'s link kind.
pub fn query(iface: &str) -> Result<LinkKind, LinkError> {
    if iface.is_empty() || iface.len() >= libc::IFNAMSIZ || iface.contains('\0') {
        return Err(LinkError::BadName(iface.to_string()));
    }
    let io_err = |source: io::Error| LinkError::Io {
        iface: iface.to_string(),
        source,
    };
    let fd = super::raw_socket(libc::AF_NETLINK, libc::NETLINK_ROUTE).map_err(io_err)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let seq = 1u32;
    let req = getlink_request(iface, seq);
    // SAFETY: sending a valid buffer; the kernel is the destination (no address needed for
    // a netlink socket's default destination, pid 0).
    let sent = unsafe { libc::send(raw, req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io_err(io::Error::last_os_error()));
    }
    let timeout = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: setting a receive timeout with a valid timeval.
    unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    let mut buf = vec![0u8; 32 * 1024];
    for _ in 0..16 {
        // SAFETY: receiving into a buffer we own, of the length given.
        let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io_err(e));
        }
        let got = buf
            .get(..usize::try_from(n).unwrap_or(0))
            .unwrap_or_default();
        match parse_getlink_reply(got, seq) {
            Some(Reply::Link(kind)) => return Ok(LinkKind::from_kind(kind.as_deref())),
            Some(Reply::Error(e)) if e == -libc::ENODEV => {
                return Err(LinkError::NotFound(iface.to_string()));
            }
            Some(Reply::Error(e)) => return Err(io_err(io::Error::from_raw_os_error(-e))),
            Some(Reply::Unrelated) => continue,
            None => {
                return Err(io_err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "malformed netlink reply",
                )));
            }
        }
    }
    Err(io_err(io::Error::new(
        io::ErrorKind::TimedOut,
        "no netlink reply",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlattr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize(align4(a.len()), 0);
        a
    }

    /// A reply as the kernel builds it for `ip link show vcan0` (ifinfomsg, IFLA_IFNAME,
    /// IFLA_MTU, IFLA_LINKINFO nested with IFLA_INFO_KIND).
    fn newlink(seq: u32, kind: Option<&str>) -> Vec<u8> {
        let mut attrs = nlattr(IFLA_IFNAME, b"vcan0\0");
        attrs.extend(nlattr(4, &72u32.to_ne_bytes()));
        if let Some(k) = kind {
            let mut z = k.as_bytes().to_vec();
            z.push(0);
            let info = nlattr(IFLA_INFO_KIND, &z);
            attrs.extend(nlattr(IFLA_LINKINFO | 0x8000, &info));
        }
        let total = NLMSG_HDRLEN + IFINFOMSG_LEN + attrs.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        let mut ifi = [0u8; IFINFOMSG_LEN];
        ifi[2..4].copy_from_slice(&280u16.to_ne_bytes()); // ARPHRD_CAN
        m.extend_from_slice(&ifi);
        m.extend(attrs);
        m
    }

    #[test]
    fn test_parse_kind_of_virtual_and_real_links() {
        for (kind, want) in [
            (Some("vcan"), LinkKind::Virtual("vcan".into())),
            (Some("vxcan"), LinkKind::Virtual("vxcan".into())),
            (Some("can"), LinkKind::Real(Some("can".into()))),
            (Some("slcan"), LinkKind::Real(Some("slcan".into()))),
            (None, LinkKind::Real(None)),
        ] {
            let reply = parse_getlink_reply(&newlink(7, kind), 7).unwrap();
            let Reply::Link(k) = reply else {
                panic!("{reply:?}")
            };
            assert_eq!(LinkKind::from_kind(k.as_deref()), want);
        }
    }

    #[test]
    fn test_slcan_is_real_although_sysfs_calls_it_virtual() {
        // slcan devices live under /sys/devices/virtual/net but are adapters on a car.
        assert!(!LinkKind::from_kind(Some("slcan")).is_virtual());
        assert!(!LinkKind::from_kind(Some("can")).is_virtual());
        assert!(!LinkKind::from_kind(None).is_virtual());
        assert!(LinkKind::from_kind(Some("vcan")).is_virtual());
    }

    #[test]
    fn test_parse_error_and_unrelated_replies() {
        let mut e = Vec::new();
        e.extend_from_slice(&36u32.to_ne_bytes());
        e.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e.extend_from_slice(&0u16.to_ne_bytes());
        e.extend_from_slice(&3u32.to_ne_bytes());
        e.extend_from_slice(&0u32.to_ne_bytes());
        e.extend_from_slice(&(-libc::ENODEV).to_ne_bytes());
        e.extend_from_slice(&[0u8; 16]);
        assert_eq!(
            parse_getlink_reply(&e, 3),
            Some(Reply::Error(-libc::ENODEV))
        );
        assert_eq!(parse_getlink_reply(&e, 4), Some(Reply::Unrelated));
        assert_eq!(parse_getlink_reply(&e[..10], 3), None);
        assert_eq!(parse_getlink_reply(&[], 3), None);
    }

    #[test]
    fn test_parse_never_panics_on_garbage() {
        let good = newlink(1, Some("vcan"));
        for cut in 0..good.len() {
            let _ = parse_getlink_reply(&good[..cut], 1);
        }
        let mut bad = good.clone();
        // An attribute claiming more than there is.
        let at = NLMSG_HDRLEN + IFINFOMSG_LEN;
        bad[at..at + 2].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert_eq!(parse_getlink_reply(&bad, 1), Some(Reply::Link(None)));
    }

    #[test]
    fn test_request_layout() {
        let r = getlink_request("can0", 9);
        assert_eq!(r.len() % 4, 0);
        assert_eq!(u32_at(&r, 0).unwrap() as usize, r.len());
        assert_eq!(u16_at(&r, 4), Some(RTM_GETLINK));
        assert_eq!(u32_at(&r, 8), Some(9));
        let attrs: Vec<_> = attributes(&r[NLMSG_HDRLEN + IFINFOMSG_LEN..]).collect();
        assert_eq!(attrs, vec![(IFLA_IFNAME, &b"can0\0"[..])]);
    }

    /// The host kernel answers for the loopback interface (no CAN needed): it exists and
    /// has no link kind, so it would count as real.
    #[test]
    fn test_query_loopback() {
        assert_eq!(query("lo").unwrap(), LinkKind::Real(None));
        assert!(matches!(query("nosuchif9"), Err(LinkError::NotFound(_))));
        assert!(matches!(query(""), Err(LinkError::BadName(_))));
    }
}
