import { DetailedError, Upload, type PreviousUpload } from "tus-js-client";
import { getToken, getUser, renewToken } from "../api/session";
import { t } from "../i18n";
import { Signal } from "./reactive";
import { gateway } from "./gateway";
import { wrongType } from "../ui/errors";

export type MediaKind = "image" | "video" | "file";

export interface UploadItem {
  id: string;
  roomId: number;
  name: string;
  size: number;
  mime: string;
  kind: MediaKind;
  sent: number;
  status: "uploading" | "waiting" | "error";
  error?: string;
  upload: Upload;
}

export const uploadSignal = new Signal();
export let uploads: UploadItem[] = [];

const THUMBNAILABLE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** What a file is sent as; the server checks it again from the bytes. */
export function kindOf(mime: string): MediaKind {
  if (THUMBNAILABLE.has(mime)) return "image";
  if (mime.startsWith("video/")) return "video";
  return "file";
}

const CHUNK = 5 * 1024 * 1024;

// Pending uploads and their bytes are kept in IndexedDB (a File can be
// stored there), so a page reload resumes them from the server's offset.
const DB = "roomy-uploads";
const STORE = "pending";

interface Persisted {
  id: string;
  userId: number;
  roomId: number;
  kind: MediaKind;
  file: File;
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbDo<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = f(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

function persist(p: Persisted): void {
  void dbDo("readwrite", (s) => s.put(p)).catch(() => undefined);
}

function unpersist(id: string): void {
  void dbDo("readwrite", (s) => s.delete(id)).catch(() => undefined);
}

function changed(): void {
  uploadSignal.notify();
}

function errorCode(err: Error): { status: number; code: string | null } {
  if (err instanceof DetailedError && err.originalResponse) {
    const status = err.originalResponse.getStatus();
    let code: string | null = null;
    try {
      code = (JSON.parse(err.originalResponse.getBody()) as { error?: { code?: string } }).error?.code ?? null;
    } catch {
      code = null;
    }
    return { status, code };
  }
  return { status: 0, code: null };
}

function errorWords(kind: MediaKind, code: string | null, status: number): string {
  switch (code) {
    case "too_large":
    case "payload_too_large":
      return t("upload.too_large");
    case "quota_exceeded":
      return t("upload.quota_exceeded");
    case "too_many_uploads":
      return t("upload.too_many_uploads");
    case "validation_failed":
    case "unsupported_media_type":
      return wrongType(kind);
  }
  if (status === 413) return t("upload.too_large");
  if (status === 0) return t("upload.network");
  return t("upload.unknown");
}

function isNetwork(err: Error): boolean {
  const { status } = errorCode(err);
  return status === 0 || status >= 500 || status === 409 || status === 423;
}

function fileIdFrom(url: string | null): number | null {
  if (!url) return null;
  const m = /\/uploads\/(\d+)(?:[?#].*)?$/.exec(url);
  return m ? Number(m[1]) : null;
}

function makeItem(id: string, roomId: number, kind: MediaKind, file: File): UploadItem {
  const item = { id, roomId, name: file.name, size: file.size, mime: file.type, kind, sent: 0, status: "uploading" } as UploadItem;
  item.upload = new Upload(file, {
    endpoint: "/api/v1/uploads",
    chunkSize: CHUNK,
    // Retries within a short outage; a longer one is resumed on the `online` event.
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onShouldRetry: (err) => isNetwork(err) && navigator.onLine !== false,
    onBeforeRequest: (req) => {
      const token = getToken();
      if (token) req.setHeader("Authorization", `Bearer ${token}`);
    },
    onAfterResponse: (_req, res) => {
      const h = res.getHeader("Authorization");
      if (h && h.startsWith("Bearer ")) renewToken(h.slice(7).trim());
    },
    onProgress: (sent) => {
      item.sent = sent;
      if (item.status !== "uploading") item.status = "uploading";
      changed();
    },
    onError: (err) => {
      if (!uploads.includes(item)) return;
      if (isNetwork(err)) {
        item.status = "waiting";
        changed();
        scheduleResume();
        return;
      }
      const { code, status } = errorCode(err);
      item.status = "error";
      item.error = errorWords(kind, code, status);
      unpersist(item.id);
      changed();
    },
    onSuccess: () => {
      const fileId = fileIdFrom(item.upload.url);
      uploads = uploads.filter((u) => u !== item);
      unpersist(item.id);
      changed();
      if (fileId !== null) gateway.send(roomId, kind, null, fileId, { name: file.name, size: file.size, mime: file.type });
    },
  });
  return item;
}

async function begin(item: UploadItem): Promise<void> {
  try {
    const previous: PreviousUpload[] = await item.upload.findPreviousUploads();
    if (previous[0]) item.upload.resumeFromPreviousUpload(previous[0]);
  } catch {
    // No stored fingerprint: a fresh upload.
  }
  item.upload.start();
}

export function startUpload(roomId: number, file: File): void {
  const user = getUser();
  if (!user) return;
  const id = crypto.randomUUID();
  const kind = kindOf(file.type);
  const item = makeItem(id, roomId, kind, file);
  uploads = [...uploads, item];
  persist({ id, userId: user.id, roomId, kind, file });
  changed();
  void begin(item);
}

export function cancelUpload(id: string): void {
  const item = uploads.find((u) => u.id === id);
  if (!item) return;
  uploads = uploads.filter((u) => u !== item);
  unpersist(id);
  changed();
  // Terminating frees the reserved quota on the server at once.
  void item.upload.abort(true).catch(() => undefined);
}

export function dismissUpload(id: string): void {
  uploads = uploads.filter((u) => u.id !== id);
  unpersist(id);
  changed();
}

let resumeTimer: ReturnType<typeof setTimeout> | null = null;

function scheduleResume(): void {
  if (resumeTimer) return;
  resumeTimer = setTimeout(() => {
    resumeTimer = null;
    resumeWaiting();
  }, 5000);
}

/** Restarts uploads stopped by the network: tus asks the server's offset (HEAD) and goes on from there. */
export function resumeWaiting(): void {
  if (navigator.onLine === false) return;
  for (const u of uploads) {
    if (u.status !== "waiting") continue;
    u.status = "uploading";
    void begin(u);
  }
  changed();
}

let restored = false;

/** After a reload: resumes this user's unfinished uploads. */
export async function restoreUploads(): Promise<void> {
  if (restored) return;
  restored = true;
  const user = getUser();
  if (!user || typeof indexedDB === "undefined") return;
  let rows: Persisted[] = [];
  try {
    rows = await dbDo("readonly", (s) => s.getAll() as IDBRequest<Persisted[]>);
  } catch {
    return;
  }
  for (const p of rows) {
    if (p.userId !== user.id || uploads.some((u) => u.id === p.id)) continue;
    const item = makeItem(p.id, p.roomId, p.kind, p.file);
    uploads = [...uploads, item];
    void begin(item);
  }
  changed();
}

if (typeof window !== "undefined") {
  window.addEventListener("online", () => resumeWaiting());
}
