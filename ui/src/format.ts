// Numbers as people read them.
import type { ConnState } from "./api";

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(secs: number): string {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = Math.floor(secs % 60);
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

export const STATE_LABEL: Record<ConnState, string> = {
  disconnected: "Disconnected",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  disconnecting: "Disconnecting…",
  error: "Failed",
};

export const SECRET_LABEL = {
  psk: "Pre-shared key",
  password: "Password",
  key: "Private key",
} as const;

export const METHOD_LABEL: Record<string, string> = {
  psk: "Pre-shared key",
  cert: "Certificate",
  "eap-mschapv2": "Username and password (EAP-MSCHAPv2)",
  "xauth-psk": "Pre-shared key + password (XAuth)",
  "xauth-cert": "Certificate + password (XAuth)",
};

export const VERSION_LABEL: Record<string, string> = {
  ikev2: "IKEv2",
  "ikev1-main": "IKEv1 (main mode)",
  "ikev1-aggressive": "IKEv1 (aggressive mode)",
};
