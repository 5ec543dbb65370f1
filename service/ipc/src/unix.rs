//! The Unix side: a stream socket only root and the `strait` group can reach, and a check of
//! who is really on the other end (the socket's file mode is not trusted alone).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Group, Uid, User};
use tokio::net::{UnixListener, UnixStream};

use crate::peer::{Peer, Role};

/// The group whose members may connect and disconnect.
pub const GROUP: &str = "strait";

/// The socket path: `STRAIT_SOCKET` if set, else the OS default.
pub fn default_socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("STRAIT_SOCKET") {
        return PathBuf::from(p);
    }
    if cfg!(target_os = "macos") {
        PathBuf::from("/var/run/strait/straitd.sock")
    } else {
        PathBuf::from("/run/strait/straitd.sock")
    }
}

/// Binds the service's socket at `path`: creates the directory, refuses to steal the socket of
/// a running service, removes a stale one, and makes it 0660 owned by the `strait` group when
/// that group exists (else 0600: only root).
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another straitd is already listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let group = Group::from_name(GROUP).ok().flatten();
    let mode = if let Some(group) = group {
        nix::unistd::chown(path, None, Some(group.gid)).map_err(io::Error::from)?;
        0o660
    } else {
        0o600
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Who is on the other end of `stream` (SO_PEERCRED on Linux, getpeereid on macOS).
pub fn peer_of(stream: &UnixStream) -> io::Result<Peer> {
    let cred = stream.peer_cred()?;
    Ok(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}

/// What `peer` may do: root (and the service's own user, so an unprivileged test service can
/// be driven) may do everything; members of the `strait` group may connect and disconnect;
/// anyone else nothing.
pub fn authorize(peer: &Peer) -> Role {
    if peer.uid == 0 || peer.uid == Uid::effective().as_raw() {
        return Role::Admin;
    }
    let Some(group) = Group::from_name(GROUP).ok().flatten() else {
        return Role::None;
    };
    if peer.gid == group.gid.as_raw() || is_member(peer.uid, &group) {
        Role::User
    } else {
        Role::None
    }
}

fn is_member(uid: u32, group: &Group) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    if group.mem.contains(&user.name) {
        return true;
    }
    #[cfg(not(target_os = "macos"))]
    {
        let Ok(name) = std::ffi::CString::new(user.name) else {
            return false;
        };
        if let Ok(groups) = nix::unistd::getgrouplist(&name, user.gid) {
            return groups.contains(&group.gid);
        }
    }
    false
}
