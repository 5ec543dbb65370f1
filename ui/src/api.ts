// The app's commands and events (src-tauri/src/commands.rs, service.rs), typed.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { open } from "@tauri-apps/plugin-dialog";

export type ConnState =
  | "disconnected"
  | "connecting"
  | "connected"
  | "reconnecting"
  | "disconnecting"
  | "error";

export type ServiceState =
  | { kind: "unknown" }
  | { kind: "running"; version: string }
  | { kind: "unreachable"; message: string; socket: string };

export interface Profile {
  id: string;
  name: string;
  gateway: string;
  version: string;
  method: string;
  managed: boolean;
  /** Our identity as written; null: this device's address, or the certificate's subject. */
  local_id: string | null;
  /** The identity the gateway must prove; null: its host name. */
  remote_id: string | null;
  username: string | null;
  /** Subnets sent through the tunnel; empty: the routes the gateway pushes. */
  routes: string[];
  /** Proposals as written; empty: the defaults. */
  ike: string[];
  esp: string[];
  needs: SecretKind[];
  stored: SecretKind[];
}

export type SecretKind = "psk" | "password" | "key";

export interface Counters {
  bytes_out: number;
  bytes_in: number;
  packets_out: number;
  packets_in: number;
  replay_drops: number;
  auth_failures: number;
}

export interface ConnectionStatus {
  profile: string;
  state: ConnState;
  gateway: string;
  gateway_address: string | null;
  virtual_ips: string[];
  dns: string[];
  dns_domains: string[];
  routes: string[];
  ike_algorithms: string | null;
  esp_algorithms: string | null;
  ike_spis: string | null;
  esp_spis: [string, string] | null;
  nat: boolean;
  counters: Counters;
  uptime_secs: number | null;
  /** Seconds until the next IKE SA rekey, counted from when the status arrived. */
  ike_rekey_in_secs: number | null;
  /** Seconds until the next child SA (ESP) rekey, counted from when the status arrived. */
  child_rekey_in_secs: number | null;
  /** The profile's kill switch blocks traffic outside the tunnel while this connection exists. */
  kill_switch?: boolean;
  reason: string | null;
}

export interface Snapshot {
  service: ServiceState;
  profiles: Profile[];
  connections: ConnectionStatus[];
}

export interface LogLine {
  time_ms: number;
  level: string;
  profile: string | null;
  message: string;
}

export interface UiError {
  kind:
    | "service_down"
    | "missing_secret"
    | "service"
    | "import"
    | "keychain"
    | "autostart"
    | "key_password"
    | "key_file";
  message: string;
  detail: string | null;
  secret: [string, SecretKind] | null;
}

export interface Imported {
  id: string;
  replaced: boolean;
  warnings: string[];
}

export const EVENTS = {
  snapshot: "strait://snapshot",
  log: "strait://log",
  error: "strait://error",
  imported: "strait://imported",
} as const;

/** Turns whatever a rejected command carries into a UiError. */
export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "message" in e && "kind" in e) {
    return e as UiError;
  }
  return { kind: "service", message: String(e), detail: null, secret: null };
}

export const api = {
  snapshot: () => invoke<Snapshot>("snapshot"),
  logs: () => invoke<LogLine[]>("logs"),
  importProfile: (path: string) => invoke<Imported>("import_profile", { path }),
  removeProfile: (profile: string) => invoke<void>("remove_profile", { profile }),
  setSecret: (profile: string, kind: SecretKind, value: string) =>
    invoke<void>("set_secret", { profile, kind, value }),
  forgetSecret: (profile: string, kind: SecretKind) =>
    invoke<void>("forget_secret", { profile, kind }),
  /** Stores a key file's private key in the keychain; rejects with `key_password` when the
   * file needs its password (or the one given is wrong). */
  importKey: (profile: string, path: string, password: string | null) =>
    invoke<void>("import_key", { profile, path, password }),
  connect: (profile: string) => invoke<void>("connect", { profile }),
  disconnect: (profile: string) => invoke<void>("disconnect", { profile }),
  autostartEnabled: () => invoke<boolean>("autostart_enabled"),
  /** Returns the setting as it is after the change. */
  setAutostart: (enabled: boolean) => invoke<boolean>("set_autostart", { enabled }),
  /** The open-file dialog, filtered to the formats the service imports. */
  chooseProfileFile: async (): Promise<string | null> => {
    const chosen = await open({
      multiple: false,
      directory: false,
      title: "Import a VPN profile",
      filters: [
        {
          name: "VPN profiles",
          extensions: ["toml", "mobileconfig", "sswan", "conf", "nmconnection"],
        },
        { name: "All files", extensions: ["*"] },
      ],
    });
    return typeof chosen === "string" ? chosen : null;
  },
  /** The open-file dialog for a private key file. */
  chooseKeyFile: async (): Promise<string | null> => {
    const chosen = await open({
      multiple: false,
      directory: false,
      title: "Import a private key",
      filters: [
        { name: "Private keys", extensions: ["p12", "pfx", "pem", "key", "der"] },
        { name: "All files", extensions: ["*"] },
      ],
    });
    return typeof chosen === "string" ? chosen : null;
  },
  onSnapshot: (f: (s: Snapshot) => void): Promise<UnlistenFn> =>
    listen<Snapshot>(EVENTS.snapshot, (e) => f(e.payload)),
  onLog: (f: (l: LogLine) => void): Promise<UnlistenFn> =>
    listen<LogLine>(EVENTS.log, (e) => f(e.payload)),
  onError: (f: (e: UiError) => void): Promise<UnlistenFn> =>
    listen<UiError>(EVENTS.error, (e) => f(e.payload)),
  onImported: (f: (i: Imported) => void): Promise<UnlistenFn> =>
    listen<Imported>(EVENTS.imported, (e) => f(e.payload)),
};
