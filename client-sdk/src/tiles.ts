// c2sp.org/tlog-tiles: a Merkle tree served as static "tiles" of hashes plus
// "entry bundles" of the log entries. This file holds tile coordinates and
// paths, which tiles a tree has, tile data, an authenticating HashReader over
// fetched tiles, the server-side tile builder, and entry bundles. No I/O:
// tiles are fetched through an injected TileReader.
//
//   https://c2sp.org/tlog-tiles
//   https://research.swtch.com/tlog#tiling_a_log (the design of Go's golang.org/x/mod/sumdb/tlog)
//
//   <prefix>/tile/<L>/<N>[.p/<W>]        hash tile: W consecutive 32-byte hashes, W·32 bytes
//   <prefix>/tile/entries/<N>[.p/<W>]    entry bundle: the W entries of level-0 tile N
//
//   <L>  level: decimal 0..63, no leading zeros
//   <N>  tile number: zero-padded 3-digit groups, all but the last prefixed with "x"
//        (5 → 005, 1000 → x001/000, 1234067 → x001/x234/067)
//   <W>  width, only for partial tiles: decimal 1..255, no leading zeros (so ".p/007" is
//        invalid); a full tile is 256 hashes (8,192 bytes) and has no suffix
//
//   hash i of tile L/N = MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]),  0 ≤ i < W
//   entry bundle       = ( u16 big-endian length ‖ entry bytes ) × W,   entries ≤ 65,535 bytes
//
// Coordinates. A hash tile is `Tile { level, n, width }` with a numeric level;
// an entry bundle is `EntriesTile { level: 'entries', n, width }`, so the
// union is discriminated by `level` and a TileReader can only be asked for
// hash tiles. Paths are written without a leading slash ("tile/0/000"), as
// Go's Tile.Path does; the server strips its prefix before parsing.
//
// Tile height is fixed at 8 (256-wide tiles), the only height the spec allows.
//
// Sizes. Paths and tree geometry (newTiles, tilesForSize, partialTiles,
// appendTiles) take any size up to 2^53 − 1; whatever is numbered by Go tlog
// stored-hash index (tileForStoredHash, tileData, tileHashReader,
// verifyEntryBundle) stops at merkle's MAX_STORED_TREE_SIZE = 2^52 leaves.
//
// Partial tiles. A tree of size s has, at each level L, the full tiles
// N < ⌊s/256^(L+1)⌋ and, when w = ⌊s/256^L⌋ mod 256 > 0, the partial tile
// N = ⌊s/256^(L+1)⌋ of width w (size 256: full tile 0/000 and partial 1/000.p/1).
// Logs may delete a partial tile once the full one exists, and clients may fetch
// the full tile instead; a TileReader may therefore answer a request for a
// partial tile with the first W·32 bytes of the full tile (the data are the
// same hashes and are authenticated the same way).

import { ConcordError, badMath } from './errors.js';
import { concatBytes, equalBytes, isUint, parseDecimal, MAX_SAFE } from './bytes.js';
import {
  HASH_SIZE,
  MAX_STORED_TREE_SIZE,
  type Hash,
  type HashReader,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
} from './merkle.js';

/** Tile height: each tile spans 8 tree levels. */
export const TILE_HEIGHT = 8;
/** Hashes in a full tile (2^TILE_HEIGHT); also entries in a full bundle. */
export const TILE_WIDTH = 256;
/** Highest level a tile path may name. */
export const MAX_TILE_LEVEL = 63;
/** Largest entry an entry bundle can hold (u16 length prefix). */
export const MAX_ENTRY_SIZE = 65_535;

// The longest canonical path, "tile/entries/x009/x007/x199/x254/x740/991.p/255"
// (N = 2^53 − 1), has 47 characters; anything longer is rejected before parsing.
const MAX_PATH_LENGTH = 64;

export type TilesErrorCode =
  | 'bad-path'
  | 'bad-tile'
  | 'bad-size'
  | 'bad-index'
  | 'bad-tile-data'
  | 'bad-reader'
  | 'inconsistent-tile'
  | 'bad-bundle'
  | 'entry-too-large'
  | 'bundle-mismatch';

/**
 * A tile path, tile, tree size, tile data, reader answer or entry bundle is invalid.
 * - bad-path: not a canonical tile path;
 * - bad-tile: tile coordinates out of range (level, n or width), or not in the tree;
 * - bad-size: tree size not an integer in range, or old size > new size;
 * - bad-index: stored-hash index not in the tree or not in the given tile;
 * - bad-tile-data: tile data (passed by the caller) of the wrong length;
 * - bad-reader: a TileReader or HashReader answered with the wrong number of
 *   tiles/hashes or with data of the wrong length;
 * - inconsistent-tile: fetched tiles do not hash up to the tree root (forged,
 *   corrupted or from another tree);
 * - bad-bundle: an entry bundle is malformed (empty, truncated, trailing bytes,
 *   more than 256 entries, or not the expected number of entries);
 * - entry-too-large: an entry longer than 65,535 bytes cannot be bundled;
 * - bundle-mismatch: a bundle's entries do not hash to the tree's leaf hashes.
 */
export class TilesError extends ConcordError<TilesErrorCode> {
  override readonly name = 'TilesError';
}

/** A hash tile: `width` hashes of tile level `level` (tree level 8·level), tile number `n`. */
export interface Tile {
  readonly level: number;
  readonly n: number;
  readonly width: number;
}

/** An entry bundle: the `width` entries of level-0 tile `n`. */
export interface EntriesTile {
  readonly level: 'entries';
  readonly n: number;
  readonly width: number;
}

/** A hash tile or an entry bundle, as named by a tile path. */
export type TileCoord = Tile | EntriesTile;

/** A tile and its bytes (width · 32). */
export interface TileWithData {
  readonly tile: Tile;
  readonly data: Uint8Array;
}

// ---------------------------------------------------------------------------
// Coordinates and paths

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function checkCoord(t: unknown, entries: boolean | undefined): asserts t is TileCoord {
  if (!isObject(t)) throw new TilesError('bad-tile', 'tile must be an object');
  const { level, n, width } = t;
  const levelOk =
    level === 'entries'
      ? entries !== false
      : entries !== true && Number.isInteger(level) && (level as number) >= 0 && (level as number) <= MAX_TILE_LEVEL;
  if (!levelOk || !isUint(n) || !Number.isInteger(width) || (width as number) < 1 || (width as number) > TILE_WIDTH) {
    throw new TilesError(
      'bad-tile',
      `invalid ${entries ? 'entry bundle' : 'tile'}: level ${String(level)} n ${String(n)} width ${String(width)}`,
    );
  }
}

function checkTile(t: unknown): asserts t is Tile {
  checkCoord(t, false);
}

function checkEntriesTile(t: unknown): asserts t is EntriesTile {
  checkCoord(t, true);
}

/** N in 3-digit groups, all but the last prefixed with "x": 1234067 → x001/x234/067. */
function formatN(n: number): string {
  let s = String(n); // a safe integer prints as plain digits
  while (s.length % 3 !== 0) s = '0' + s;
  const groups: string[] = [];
  for (let i = 0; i < s.length; i += 3) groups.push(s.slice(i, i + 3));
  return groups.map((g, i) => (i < groups.length - 1 ? 'x' + g : g)).join('/');
}

/** The tile's path, "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]", without a leading slash. */
export function tilePath(t: TileCoord): string {
  checkCoord(t, undefined);
  const w = t.width === TILE_WIDTH ? '' : `.p/${t.width}`;
  return `tile/${t.level}/${formatN(t.n)}${w}`;
}

// Shape only; ranges and canonical N grouping are checked after. Linear-time (no nested quantifiers).
const PATH_RE = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses a canonical tile path (as tilePath writes it). Rejects, with
 * TilesError 'bad-path', everything else: leading zeros in L or W, W of 0,
 * 256 or more, a first N group "x000", missing "x" prefixes, levels above 63,
 * N above 2^53 − 1, leading or trailing slashes, empty or dot segments.
 */
export function parseTilePath(path: string): TileCoord {
  if (typeof path !== 'string' || path.length > MAX_PATH_LENGTH) {
    throw new TilesError('bad-path', 'tile path must be a string of at most 64 characters');
  }
  const m = PATH_RE.exec(path);
  if (m === null) throw new TilesError('bad-path', `malformed tile path ${JSON.stringify(path)}`);
  const [, l, nGroups, w] = m as unknown as [string, string, string, string | undefined];
  const level = l === 'entries' ? 'entries' : Number(l);
  if (level !== 'entries' && level > MAX_TILE_LEVEL) {
    throw new TilesError('bad-path', `tile level ${level} above ${MAX_TILE_LEVEL}`);
  }
  const width = w === undefined ? TILE_WIDTH : Number(w);
  if (w !== undefined && width >= TILE_WIDTH) throw new TilesError('bad-path', `partial tile width ${width} is not in 1..255`);
  const digits = nGroups.replace(/[x/]/g, '').replace(/^0+(?=[0-9])/, '');
  let n: number;
  try {
    n = parseDecimal(digits);
  } catch (cause) {
    throw new TilesError('bad-path', `tile number in ${JSON.stringify(path)} exceeds 2^53 - 1`, { cause });
  }
  const t: TileCoord = level === 'entries' ? { level, n, width } : { level, n, width };
  // Rejects non-canonical grouping such as "x000/005" for 5.
  if (tilePath(t) !== path) throw new TilesError('bad-path', `non-canonical tile path ${JSON.stringify(path)}`);
  return t;
}

// ---------------------------------------------------------------------------
// Tree geometry

function checkTreeSize(size: unknown, what = 'tree size', max = MAX_SAFE): asserts size is number {
  if (!isUint(size) || size > max) {
    throw new TilesError('bad-size', `${what} must be an integer in [0, ${max}], got ${String(size)}`);
  }
}

/** 256^level, exact (a power of two) for every level used here. */
function span(level: number): number {
  return 2 ** (TILE_HEIGHT * level);
}

/** Number of hashes at tree level 8·level in a tree of `size` leaves: ⌊size / 256^level⌋. */
function hashesAt(size: number, level: number): number {
  return Math.floor(size / span(level)); // exact: division by a power of two
}

/** Width of tile (level, n) in the tree of `size` leaves; 0 when the tree has no such tile. */
function widthIn(size: number, level: number, n: number): number {
  const w = hashesAt(size, level) - n * TILE_WIDTH;
  return w <= 0 ? 0 : Math.min(w, TILE_WIDTH);
}

/**
 * Hash tiles to publish when the tree grows from oldSize to newSize leaves:
 * every tile that becomes full and, per level, the partial tile of newSize
 * if it differs from oldSize's. Ordered by level, then n. newTiles(0, s) is
 * every tile of the tree of size s.
 *
 * Unlike Go's tlog.NewTiles, which also lists every intermediate width of a
 * growing partial tile (and re-lists the old width), this lists only the
 * partial tile of newSize: tlog-tiles requires partial tiles only for sizes
 * that have a checkpoint, and clients fetch only those.
 */
export function newTiles(oldSize: number, newSize: number): Tile[] {
  checkTreeSize(oldSize, 'old size');
  checkTreeSize(newSize, 'new size');
  if (oldSize > newSize) throw new TilesError('bad-size', `old size ${oldSize} > new size ${newSize}`);
  const out: Tile[] = [];
  for (let level = 0; hashesAt(newSize, level) > 0; level++) {
    const oldN = hashesAt(oldSize, level);
    const newN = hashesAt(newSize, level);
    if (oldN === newN) continue; // nothing changed at this level (nor above)
    const lastFull = Math.floor(newN / TILE_WIDTH);
    for (let n = Math.floor(oldN / TILE_WIDTH); n < lastFull; n++) out.push({ level, n, width: TILE_WIDTH });
    const w = newN % TILE_WIDTH;
    if (w > 0) out.push({ level, n: lastFull, width: w });
  }
  return out;
}

/** Every hash tile of the tree of `size` leaves (full and partial), by level then n. */
export function tilesForSize(size: number): Tile[] {
  return newTiles(0, size);
}

/** The partial tiles of the tree of `size` leaves (its right edge), by level ascending. */
export function partialTiles(size: number): Tile[] {
  checkTreeSize(size);
  const out: Tile[] = [];
  for (let level = 0; hashesAt(size, level) > 0; level++) {
    const all = hashesAt(size, level);
    const w = all % TILE_WIDTH;
    if (w > 0) out.push({ level, n: Math.floor(all / TILE_WIDTH), width: w });
  }
  return out;
}

/** Entry bundles to publish when the tree grows from oldSize to newSize (the level-0 tiles). */
export function newEntryBundles(oldSize: number, newSize: number): EntriesTile[] {
  return newTiles(oldSize, newSize)
    .filter((t) => t.level === 0)
    .map((t) => ({ level: 'entries', n: t.n, width: t.width }));
}

/** Every entry bundle of the tree of `size` leaves. */
export function entryBundlesForSize(size: number): EntriesTile[] {
  return newEntryBundles(0, size);
}

/** Where a stored hash lives: its tile (width 0 until set for a tree) and its hashes [pos, pos + count) in it. */
interface Place {
  level: number;
  n: number;
  pos: number;
  count: number;
}

/** Tile coordinates of stored hash `index` (Go tlog numbering); the hash is MTH of tile hashes [pos, pos+count). */
function place(index: number): Place {
  const [hashLevel, hashN] = splitStoredHashIndex(index);
  const level = Math.floor(hashLevel / TILE_HEIGHT);
  const count = 2 ** (hashLevel - level * TILE_HEIGHT); // level within the tile, as a span of tile hashes
  const first = hashN * count; // exact: first tile-level hash of the subtree, below 2^53
  const n = Math.floor(first / TILE_WIDTH);
  return { level, n, pos: first - n * TILE_WIDTH, count };
}

function checkIndexInTree(index: unknown, size: number): asserts index is number {
  // Stored hashes are numbered in the order they are created, so the tree
  // of `size` leaves holds exactly indexes [0, storedHashCount(size)).
  if (!isUint(index) || index >= (size === 0 ? 0 : storedHashCount(size))) {
    throw new TilesError('bad-index', `stored hash ${String(index)} is not in the tree of size ${size}`);
  }
}

/**
 * The tile of the tree of `size` leaves that holds stored hash `index`
 * (Go tlog numbering): full, or that tree's partial tile. 'bad-index' if the
 * hash is not in the tree. Sizes up to 2^52 (merkle's MAX_STORED_TREE_SIZE).
 */
export function tileForStoredHash(index: number, size: number): Tile {
  checkTreeSize(size, 'tree size', MAX_STORED_TREE_SIZE);
  checkIndexInTree(index, size);
  const p = place(index);
  const width = widthIn(size, p.level, p.n);
  if (p.pos + p.count > width) badMath('stored hash beyond its tile');
  return { level: p.level, n: p.n, width };
}

/** MTH of `count` (a power of two) tile hashes from hash `pos` of tile data. */
function subtreeFromTile(data: Uint8Array, pos: number, count: number): Hash {
  if (count === 1) return data.slice(pos * HASH_SIZE, (pos + 1) * HASH_SIZE);
  return rootFromLeafHashes(data.subarray(pos * HASH_SIZE, (pos + count) * HASH_SIZE));
}

function checkTileData(t: Tile, data: unknown, code: 'bad-tile-data' | 'bad-reader' = 'bad-tile-data'): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array) || data.length !== t.width * HASH_SIZE) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : typeof data;
    throw new TilesError(code, `data for ${tilePath(t)} must be ${t.width * HASH_SIZE} bytes, got ${got}`);
  }
}

/**
 * Stored hash `index` computed from the data of a tile that holds it (the
 * tile tileForStoredHash names, or a wider one of the same level and n).
 * Computes only; it does not authenticate the data.
 */
export function hashFromTile(tile: Tile, data: Uint8Array, index: number): Hash {
  checkTile(tile);
  checkTileData(tile, data);
  if (!isUint(index)) throw new TilesError('bad-index', `invalid stored-hash index ${String(index)}`);
  let p: Place;
  try {
    p = place(index);
  } catch (cause) {
    throw new TilesError('bad-index', `invalid stored-hash index ${index}`, { cause });
  }
  if (p.level !== tile.level || p.n !== tile.n || p.pos + p.count > tile.width) {
    throw new TilesError('bad-index', `stored hash ${index} is not in ${tilePath(tile)}`);
  }
  return subtreeFromTile(data, p.pos, p.count);
}

/** The stored-hash indexes of a tile's hashes, in order. */
function tileIndexes(t: Tile): number[] {
  const first = t.n * TILE_WIDTH;
  if ((first + t.width) * span(t.level) > MAX_STORED_TREE_SIZE) {
    throw new TilesError('bad-tile', `${tilePath(t)} lies beyond ${MAX_STORED_TREE_SIZE} leaves`);
  }
  const out: number[] = [];
  for (let i = 0; i < t.width; i++) out.push(storedHashIndex(TILE_HEIGHT * t.level, first + i));
  return out;
}

async function readHashesChecked(reader: HashReader, indexes: number[]): Promise<Hash[]> {
  const got: unknown = await reader.readHashes(indexes);
  if (!Array.isArray(got) || got.length !== indexes.length) {
    throw new TilesError('bad-reader', `asked for ${indexes.length} hashes, reader returned ${Array.isArray(got) ? got.length : typeof got}`);
  }
  for (const h of got) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new TilesError('bad-reader', 'reader returned a hash that is not 32 bytes');
  }
  return got as Hash[];
}

/** A tile's bytes from stored hashes (one HashReader call), as a log server serves it. */
export async function tileData(tile: Tile, reader: HashReader): Promise<Uint8Array> {
  checkTile(tile);
  return concatBytes(...(await readHashesChecked(reader, tileIndexes(tile))));
}

// ---------------------------------------------------------------------------
// Server side: tiles for appended leaves

function concatHashes(hashes: readonly Hash[]): Uint8Array {
  if (!Array.isArray(hashes)) throw new TilesError('bad-tile-data', 'leaf hashes must be an array');
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h: unknown, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new TilesError('bad-tile-data', `leaf hash ${i} is not 32 bytes`);
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/**
 * Every tile to publish (exactly newTiles(oldSize, oldSize + leafHashes.length),
 * in that order, with its bytes) when `leafHashes` are appended to the tree
 * of oldSize leaves. `oldEdge` is the data of partialTiles(oldSize), in that
 * order: the only old hashes the new tiles contain. Each new hash is computed
 * once: a tile's hashes are copied, and each newly full tile is hashed once
 * (255 node hashes) into the level above.
 */
export function appendTiles(oldSize: number, oldEdge: readonly Uint8Array[], leafHashes: readonly Hash[]): TileWithData[] {
  checkTreeSize(oldSize, 'old size');
  const edge = partialTiles(oldSize);
  if (!Array.isArray(oldEdge) || oldEdge.length !== edge.length) {
    throw new TilesError('bad-tile-data', `the tree of size ${oldSize} has ${edge.length} partial tiles, got ${Array.isArray(oldEdge) ? oldEdge.length : typeof oldEdge}`);
  }
  edge.forEach((t, i) => checkTileData(t, oldEdge[i]));
  let fresh = concatHashes(leafHashes); // the new hashes at this level, concatenated
  checkTreeSize(oldSize + leafHashes.length, 'new size');

  const out: TileWithData[] = [];
  for (let level = 0; fresh.length > 0; level++) {
    const oldCount = hashesAt(oldSize, level);
    const first = Math.floor(oldCount / TILE_WIDTH);
    const kept = oldCount % TILE_WIDTH;
    let buf = fresh;
    if (kept > 0) {
      const i = edge.findIndex((t) => t.level === level);
      const old = oldEdge[i];
      if (old === undefined || edge[i]!.n !== first || edge[i]!.width !== kept) badMath('appendTiles edge');
      buf = concatBytes(old, fresh);
    }
    const total = buf.length / HASH_SIZE;
    const full = Math.floor(total / TILE_WIDTH);
    const next = new Uint8Array(full * HASH_SIZE);
    for (let i = 0; i * TILE_WIDTH < total; i++) {
      const width = Math.min(TILE_WIDTH, total - i * TILE_WIDTH);
      const data = buf.slice(i * TILE_WIDTH * HASH_SIZE, (i * TILE_WIDTH + width) * HASH_SIZE);
      out.push({ tile: { level, n: first + i, width }, data });
      if (width === TILE_WIDTH) next.set(rootFromLeafHashes(data), i * HASH_SIZE);
    }
    fresh = next;
  }
  return out;
}

/** appendTiles, reading the old tree's partial tiles from stored hashes in one HashReader call. */
export async function appendTilesFromReader(oldSize: number, leafHashes: readonly Hash[], reader: HashReader): Promise<TileWithData[]> {
  checkTreeSize(oldSize, 'old size', MAX_STORED_TREE_SIZE);
  const edge = partialTiles(oldSize);
  const indexes = edge.flatMap(tileIndexes);
  const hashes = indexes.length > 0 ? await readHashesChecked(reader, indexes) : [];
  const oldEdge: Uint8Array[] = [];
  let at = 0;
  for (const t of edge) {
    oldEdge.push(concatBytes(...hashes.slice(at, at + t.width)));
    at += t.width;
  }
  return appendTiles(oldSize, oldEdge, leafHashes);
}

// ---------------------------------------------------------------------------
// Client side: an authenticating HashReader over fetched tiles

/**
 * Fetches hash tiles. `readTiles` answers one batch: exactly one
 * Uint8Array of tile.width · 32 bytes per tile, in order (for a partial
 * tile the prefix of the full tile is fine). Its data is untrusted.
 * `saveTiles`, if present, is called with tiles and data only after every
 * one of them has been authenticated against the tree root, so a cache that
 * stores only what saveTiles hands it stores only authenticated data.
 * Exceptions thrown by either (I/O failures) propagate unchanged.
 */
export interface TileReader {
  readTiles(tiles: readonly Tile[]): Promise<Uint8Array[]>;
  saveTiles?(tiles: readonly Tile[], data: readonly Uint8Array[]): void | Promise<void>;
}

/** The tree a tileHashReader serves: its size and (already verified) root. */
export interface TreeHead {
  readonly size: number;
  readonly root: Hash;
}

const key = (level: number, n: number): string => `${level}/${n}`;

/** Largest power of two ≤ x (x ≥ 1, x ≤ 256 here). */
function pow2AtMost(x: number): number {
  return 2 ** (31 - Math.clz32(x));
}

/**
 * A HashReader for the tree `tree` that reads stored hashes from tiles and
 * authenticates every tile it reads before returning any hash:
 *
 * - the partial tiles of the tree (its right edge, at most one per level)
 *   together determine the root: their hashes, split into maximal
 *   power-of-two runs, are exactly the tree's right-edge subtrees, so every
 *   byte of every partial tile is checked by recomputing the root;
 * - a full tile (level L, number N) is checked by hashing its 256 hashes and
 *   comparing with hash N mod 256 of its parent tile (L+1, ⌊N/256⌋), which is
 *   checked first (parents before children, ending at a partial tile).
 *
 * Each readHashes call fetches, in ONE readTiles call, the tiles holding the
 * requested hashes, their full ancestors, and the right edge (after the first
 * successful call the authenticated edge is kept and not fetched again).
 * Only after all of them pass is saveTiles called, and then the hashes are
 * returned. Any mismatch throws TilesError 'inconsistent-tile'.
 *
 * Go's tlog.TileHashReader authenticates the tiles after the right-edge ones
 * starting at position len(stx) — the number of right-edge *subtrees* — not
 * at the number of distinct right-edge *tiles*. Several subtrees share a
 * tile whenever a level's partial width has more than one bit set (size 300:
 * 4 subtrees in 2 tiles), so the first few child tiles of a batch are never
 * checked, and a forged full tile (e.g. 0/000 of a 300-leaf tree, whose
 * parent 1/000.p/1 is partial) is returned and saved as authentic. Here the
 * edge and the full tiles are kept apart, and every fetched tile is checked.
 */
export function tileHashReader(tree: TreeHead, tiles: TileReader): HashReader {
  if (!isObject(tree)) throw new TilesError('bad-size', 'tree must be { size, root }');
  const sizeIn: unknown = tree.size;
  checkTreeSize(sizeIn, 'tree size', MAX_STORED_TREE_SIZE);
  const size: number = sizeIn;
  const rootIn: unknown = tree.root;
  if (!(rootIn instanceof Uint8Array) || rootIn.length !== HASH_SIZE) throw new TilesError('bad-size', 'tree root must be 32 bytes');
  const root = rootIn.slice();
  const edgeTiles = partialTiles(size).reverse(); // highest level (leftmost leaves) first
  // Authenticated right-edge tile data, once a call has verified it.
  let edgeCache: Map<string, Uint8Array> | undefined;

  const parentOf = (t: Tile): Tile => {
    const n = Math.floor(t.n / TILE_WIDTH);
    return { level: t.level + 1, n, width: widthIn(size, t.level + 1, n) };
  };

  async function readHashes(indexes: readonly number[]): Promise<Hash[]> {
    if (!Array.isArray(indexes)) throw new TilesError('bad-index', 'indexes must be an array');
    const wanted = indexes.map((index: unknown) => {
      checkIndexInTree(index, size);
      const p = place(index);
      const width = widthIn(size, p.level, p.n);
      if (p.pos + p.count > width) badMath('stored hash beyond its tile');
      return { tile: { level: p.level, n: p.n, width }, pos: p.pos, count: p.count };
    });
    if (wanted.length === 0) return [];

    // Plan: the full tiles holding wanted hashes, and their full ancestors.
    // The chain of a full tile always ends at a partial tile: at the top
    // level ⌊size/256^(L+1)⌋ = 0, so tile 0 there is partial.
    const full = new Map<string, Tile>();
    for (const w of wanted) {
      for (let t = w.tile; t.width === TILE_WIDTH; t = parentOf(t)) {
        const k = key(t.level, t.n);
        if (full.has(k)) break;
        full.set(k, t);
      }
    }
    const fullTiles = [...full.values()].sort((a, b) => b.level - a.level || a.n - b.n); // parents first
    const cached = edgeCache;
    const fetch: Tile[] = cached === undefined ? [...edgeTiles, ...fullTiles] : fullTiles;

    let data: Uint8Array[] = [];
    if (fetch.length > 0) {
      const got: unknown = await tiles.readTiles(fetch);
      if (!Array.isArray(got) || got.length !== fetch.length) {
        throw new TilesError('bad-reader', `asked for ${fetch.length} tiles, reader returned ${Array.isArray(got) ? got.length : typeof got}`);
      }
      fetch.forEach((t, i) => checkTileData(t, got[i], 'bad-reader'));
      // Private copies: the reader cannot change data after it is checked.
      data = (got as Uint8Array[]).map((d) => d.slice());
    }
    const byKey = new Map<string, Uint8Array>(cached);
    fetch.forEach((t, i) => byKey.set(key(t.level, t.n), data[i]!));
    const dataOf = (t: Tile): Uint8Array => byKey.get(key(t.level, t.n)) ?? badMath(`tile ${tilePath(t)} not planned`);

    // 1. The right edge against the root (RFC 6962 MTH: fold the maximal
    //    subtrees, largest first, right to left).
    if (cached === undefined) {
      const parts: Hash[] = [];
      for (const t of edgeTiles) {
        const d = dataOf(t);
        for (let lo = 0; lo < t.width; ) {
          const k = pow2AtMost(t.width - lo);
          parts.push(subtreeFromTile(d, lo, k));
          lo += k;
        }
      }
      let h = parts.pop() ?? badMath('tree of size > 0 without an edge');
      while (parts.length > 0) h = nodeHash(parts.pop()!, h);
      if (!equalBytes(h, root)) throw new TilesError('inconsistent-tile', `tiles do not match the root of the tree of size ${size}`);
    }
    // 2. Full tiles against their parents, parents first.
    for (const t of fullTiles) {
      const expected = subtreeFromTile(dataOf(parentOf(t)), t.n % TILE_WIDTH, 1);
      if (!equalBytes(subtreeFromTile(dataOf(t), 0, TILE_WIDTH), expected)) {
        throw new TilesError('inconsistent-tile', `${tilePath(t)} does not match its parent tile (tree size ${size})`);
      }
    }
    // Every fetched tile is now authenticated.
    const out = wanted.map((w) => subtreeFromTile(dataOf(w.tile), w.pos, w.count));
    if (cached === undefined) edgeCache = new Map(edgeTiles.map((t) => [key(t.level, t.n), dataOf(t).slice()]));
    if (fetch.length > 0 && tiles.saveTiles !== undefined) await tiles.saveTiles(fetch, data);
    return out;
  }

  return { readHashes };
}

// ---------------------------------------------------------------------------
// Entry bundles

/** Encodes entries as an entry bundle: u16 big-endian length ‖ bytes, for 1..256 entries of ≤ 65,535 bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > TILE_WIDTH) {
    throw new TilesError('bad-bundle', `an entry bundle holds 1..${TILE_WIDTH} entries`);
  }
  let n = 0;
  entries.forEach((e: unknown, i) => {
    if (!(e instanceof Uint8Array)) throw new TilesError('bad-bundle', `entry ${i} is not a Uint8Array`);
    if (e.length > MAX_ENTRY_SIZE) throw new TilesError('entry-too-large', `entry ${i} has ${e.length} bytes, more than ${MAX_ENTRY_SIZE}`);
    n += 2 + e.length;
  });
  const out = new Uint8Array(n);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle strictly: 1..256 entries, each a u16 big-endian
 * length and exactly that many bytes, no trailing bytes, and exactly
 * `expectedCount` entries when given (the bundle's width). Returns copies.
 */
export function decodeEntryBundle(data: Uint8Array, expectedCount?: number): Uint8Array[] {
  if (!(data instanceof Uint8Array)) throw new TilesError('bad-bundle', 'entry bundle must be a Uint8Array');
  if (expectedCount !== undefined && (!Number.isInteger(expectedCount) || expectedCount < 1 || expectedCount > TILE_WIDTH)) {
    throw new TilesError('bad-bundle', `expected entry count must be in 1..${TILE_WIDTH}, got ${String(expectedCount)}`);
  }
  const max = expectedCount ?? TILE_WIDTH;
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    if (out.length === max) throw new TilesError('bad-bundle', `entry bundle has more than ${max} entries`);
    if (at + 2 > data.length) throw new TilesError('bad-bundle', 'entry bundle truncated in a length prefix');
    const len = (data[at]! << 8) | data[at + 1]!;
    at += 2;
    if (at + len > data.length) throw new TilesError('bad-bundle', `entry ${out.length} truncated: ${len} bytes announced, ${data.length - at} left`);
    out.push(data.slice(at, at + len));
    at += len;
  }
  if (out.length === 0) throw new TilesError('bad-bundle', 'empty entry bundle');
  if (expectedCount !== undefined && out.length !== expectedCount) {
    throw new TilesError('bad-bundle', `entry bundle has ${out.length} entries, expected ${expectedCount}`);
  }
  return out;
}

/**
 * Checks decoded bundle entries against the bytes of the matching level-0
 * tile (same n and width), which the caller has authenticated: entry i's RFC
 * 6962 leaf hash must be hash i of the tile. Throws 'bundle-mismatch'.
 */
export function checkBundleAgainstTile(entries: readonly Uint8Array[], level0Data: Uint8Array): void {
  if (!Array.isArray(entries) || !(level0Data instanceof Uint8Array) || level0Data.length !== entries.length * HASH_SIZE) {
    throw new TilesError('bundle-mismatch', 'bundle and level-0 tile have different numbers of entries');
  }
  entries.forEach((e: unknown, i) => {
    if (!(e instanceof Uint8Array)) throw new TilesError('bad-bundle', `entry ${i} is not a Uint8Array`);
    if (!equalBytes(leafHash(e), level0Data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))) {
      throw new TilesError('bundle-mismatch', `entry ${i} does not hash to leaf hash ${i} of the level-0 tile`);
    }
  });
}

/**
 * Checks decoded entries of `bundle` against the tree, reading their leaf
 * hashes in one call through `reader` — which must authenticate what it
 * returns (a tileHashReader for a verified checkpoint). The bundle must lie
 * within that tree. Throws 'bundle-mismatch' (or the reader's errors).
 */
export async function verifyEntryBundle(bundle: EntriesTile, entries: readonly Uint8Array[], reader: HashReader): Promise<void> {
  checkEntriesTile(bundle);
  if (!Array.isArray(entries) || entries.length !== bundle.width) {
    throw new TilesError('bundle-mismatch', `${tilePath(bundle)} must hold ${bundle.width} entries`);
  }
  const first = bundle.n * TILE_WIDTH;
  if (first + bundle.width > MAX_STORED_TREE_SIZE) throw new TilesError('bad-tile', `${tilePath(bundle)} lies beyond ${MAX_STORED_TREE_SIZE} leaves`);
  const indexes = entries.map((_, i) => storedHashIndex(0, first + i));
  const hashes = await readHashesChecked(reader, indexes);
  checkBundleAgainstTile(entries, concatBytes(...hashes));
}
