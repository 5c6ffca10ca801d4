/*
 * ADIC live events: the dashboard every edge serves at `/`.
 *
 * Plain script, no build step, no framework, nothing fetched from elsewhere. The page connects
 * back to the edge that served it over WebSocket (`/v1/ws/events`) and falls back to SSE
 * (`/v1/sse/events`) when a WebSocket cannot be opened. It reconnects by itself with jittered
 * exponential backoff (1 s doubling to 30 s) and hands its cursor back (`since=` on WebSocket,
 * `last_event_id=` on SSE) so an edge that can resume continues exactly where the page stopped.
 *
 * Page query parameters (for development and for links):
 *   edge=host:port          read events from another edge than the one serving the page
 *   transport=sse|websocket force one transport
 *   events=a,b  priority=p  start with these filters (the page keeps them in its URL)
 *
 * On an edge with authentication on, open the page with `#token=<JWT>` (the fragment never
 * reaches a server or its logs). The token is sent in-band on WebSocket (an `Auth` message) and
 * as `token=` on SSE (EventSource cannot set headers). A refused or expired token stops the
 * page with "not authorized" and the edge's reason, rather than reconnecting forever.
 *
 * Event strings are untrusted: the DOM is built with createElement/textContent only.
 * Tests read the page through the read-only `window.adicDashboard` object at the end.
 */
(function () {
  'use strict';

  // The 54 kinds as [variant, dotted name, priority], generated from shared/contract/kinds.json.
  const KINDS = [
  ["TipsUpdated","tips.update","high"], ["MessageFinalized","finality.update","high"],
  ["MessageAdded","message.new","high"], ["MessageRejected","message.rejected","high"],
  ["DepositEscrowed","deposit.escrowed","high"], ["DepositSlashed","deposit.slashed","high"],
  ["BalanceChanged","balance.changed","high"], ["TransferRecorded","transfer.recorded","high"],
  ["PeerConnected","peer.connected","high"], ["PeerDisconnected","peer.disconnected","high"],
  ["VRFCommitSubmitted","vrf.commit","high"], ["VRFRevealOpened","vrf.reveal","high"],
  ["VRFRandomnessFinalized","vrf.finalized","high"], ["ChallengeWindowOpened","challenge.opened","high"],
  ["ChallengeSubmitted","challenge.submitted","high"], ["FraudProofSubmitted","fraud.submitted","high"],
  ["FraudProofVerified","fraud.verified","high"], ["ArbitrationStarted","arbitration.started","high"],
  ["ArbitrationCompleted","arbitration.completed","high"],
  ["ProposalSubmitted","governance.proposal.submitted","high"], ["VoteCast","governance.vote.cast","high"],
  ["GovernanceReceiptEmitted","governance.receipt.emitted","high"],
  ["ProposalTallied","governance.proposal.tallied","high"],
  ["ProposalStatusChanged","governance.proposal.status","high"],
  ["ProposalEnacted","governance.proposal.enacted","high"],
  ["ParameterChanged","governance.parameter.changed","high"],
  ["TreasuryMilestoneCompleted","governance.treasury.milestone","high"],
  ["TreasuryGrantClawedBack","governance.treasury.clawback","high"],
  ["CommitteeCertificateGenerated","committee.certificate.generated","high"],
  ["TaskSubmitted","pouw.task.submitted","high"], ["WorkResultSubmitted","pouw.result.submitted","high"],
  ["ReceiptValidated","pouw.receipt.validated","high"], ["DiversityUpdated","diversity.update","medium"],
  ["EnergyUpdated","energy.update","medium"], ["KCoreUpdated","kcore.update","medium"],
  ["DepositReleased","deposit.released","medium"], ["SyncStarted","sync.started","medium"],
  ["SyncProgress","sync.progress","medium"], ["SyncCompleted","sync.completed","medium"],
  ["ReputationChanged","reputation.changed","medium"], ["QuorumSelected","quorum.selected","medium"],
  ["QuorumVoteCompleted","quorum.voted","medium"], ["EscrowLocked","escrow.locked","medium"],
  ["EscrowReleased","escrow.released","medium"], ["EscrowSlashed","escrow.slashed","medium"],
  ["EscrowRefunded","escrow.refunded","medium"], ["TreasuryGrantExecuted","governance.treasury.executed","medium"],
  ["AggregatorSelected","committee.aggregator.selected","medium"],
  ["WorkersSelected","pouw.workers.selected","medium"], ["AdmissibilityUpdated","admissibility.update","low"],
  ["EconomicsUpdated","economics.update","low"], ["NodeStarted","node.started","low"],
  ["NodeStopped","node.stopped","low"], ["GenesisLoaded","genesis.loaded","low"]
  ];

  /** Kinds whose every event carries the whole current value: only the newest matters. */
  const SNAPSHOT_KINDS = new Set([
    'tips.update', 'diversity.update', 'energy.update', 'kcore.update',
    'admissibility.update', 'economics.update', 'sync.progress',
  ]);
  const PRIORITIES = ['high', 'medium', 'low'];
  const PRIORITY_TEXT = {
    high: 'High priority · ledger changes',
    medium: 'Medium priority · gauges and processes',
    low: 'Low priority · slow gauges, node life',
    other: 'Other · kinds newer than this page',
  };

  const FEED_MAX = 200;
  const LOG_MAX = 5;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const PING_EVERY_MS = 20000;
  /** A WebSocket silent for this long (no event, no Pong) is presumed dead and replaced. */
  const SILENCE_LIMIT_MS = 50000;
  /** Filter clicks within this window become one change on the wire. */
  const FILTER_DEBOUNCE_MS = 250;
  const RATE_WINDOW_S = 60;

  const BY_VARIANT = new Map();
  const BY_NAME = new Map();
  KINDS.forEach(function (row, index) {
    const kind = { variant: row[0], name: row[1], priority: row[2], index: index };
    BY_VARIANT.set(kind.variant, kind);
    BY_NAME.set(kind.name, kind);
  });

  // ---------------------------------------------------------------- where events come from

  const params = new URLSearchParams(location.search);
  const edgeHost = params.get('edge') || location.host || '127.0.0.1:9121';
  const secure = location.protocol === 'https:';
  const forcedTransport = ['sse', 'websocket'].indexOf(params.get('transport')) >= 0 ? params.get('transport') : null;
  const WS_BASE = (secure ? 'wss://' : 'ws://') + edgeHost + '/v1/ws/events';
  const SSE_BASE = (secure ? 'https://' : 'http://') + edgeHost + '/v1/sse/events';
  const POLL_BASE = (secure ? 'https://' : 'http://') + edgeHost + '/v1/events';
  const TOKEN = new URLSearchParams(location.hash.replace(/^#/, '')).get('token') || params.get('token') || null;
  const TOKEN_HINT = TOKEN ? ' Open the page again with a fresh #token=<JWT>.' : ' Open the page with #token=<JWT>.';

  // ---------------------------------------------------------------- state

  const model = {
    cursor: null,
    transport: null, // 'websocket' | 'sse' | null
    state: 'connecting', // 'connecting' | 'live' | 'reconnecting' | 'stopped'
    stoppedReason: '',
    total: 0,
    byKind: new Map(),
    byPriority: { high: 0, medium: 0, low: 0, other: 0 },
    tipsCount: null,
    gauges: new Map(), // dotted name of a snapshot kind -> its newest data
  };
  /** Desired filters: `null` kinds means every kind; an empty set means none. */
  const desired = { kinds: null, priority: 'all' };

  let conn = null; // { transport, socket, open, applied: { kinds, priority } }
  let attempt = 0;
  let retryTimer = null;
  let retryAt = 0;
  let filterTimer = null;
  let lastHeard = 0;
  let lastPing = 0;
  let lastEpoch = null;
  let lastSeq = null;
  let connectedOnce = false;

  // Rendering is batched: handlers mark what changed, one pass per frame writes the DOM.
  let feedPending = [];
  let logPending = [];
  let paused = false;
  let skipped = 0;
  const dirtyKinds = new Set();
  const dirtyGauges = new Set();
  let dirtyHeader = true;
  let renderQueued = false;
  const tipsHistory = []; // [ms, count] over the last minute
  const energyHistory = []; // [ms, active conflicts] over the last minute
  const startedAt = Date.now();

  // ---------------------------------------------------------------- small helpers

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setText(id, text) {
    const node = $(id);
    if (node && node.textContent !== text) node.textContent = text;
  }

  function isNum(x) { return typeof x === 'number' && isFinite(x); }

  function str(x) {
    if (x === null || x === undefined) return '';
    return typeof x === 'string' ? x : (typeof x === 'object' ? JSON.stringify(x) : String(x));
  }

  /** Long hex ids and addresses shortened for reading: `1a2b3c4d…`. */
  function short(x) {
    const s = str(x);
    return s.length > 12 ? s.slice(0, s.startsWith('adic1') ? 11 : 8) + '…' : s;
  }

  const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const compactFormat = new Intl.NumberFormat('en-US', { notation: 'compact', minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function int(x) { return isNum(x) ? intFormat.format(x) : '—'; }
  function fixed(x, digits) { return isNum(x) ? x.toFixed(digits) : '—'; }
  /** A rate given as 0..1 (or, defensively, 0..100) as a percentage. */
  function pct(x) {
    if (!isNum(x)) return '—';
    return (x > 1.0001 ? x : x * 100).toFixed(1) + '%';
  }
  function fraction(x) { return isNum(x) ? Math.max(0, Math.min(1, x > 1.0001 ? x / 100 : x)) : 0; }

  /** A decimal amount string ("1234.500") with digit grouping, kept exact. */
  function amount(x) {
    const s = str(x);
    const m = /^(-?)(\d+)(\.\d+)?$/.exec(s);
    if (!m) return s;
    return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (m[3] || '');
  }
  function compactAmount(x) {
    const n = Number(str(x));
    return isFinite(n) && str(x) !== '' ? compactFormat.format(n) : (str(x) || '—');
  }
  const adicFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
  function adic(x) { return isNum(x) ? adicFormat.format(x) : str(x); }

  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  function clock(unixSeconds) {
    const d = isNum(unixSeconds) ? new Date(unixSeconds * 1000) : new Date();
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function parseCursor(c) {
    const m = /^([0-9A-Za-z]+)-(\d+)$/.exec(str(c));
    return m ? { epoch: m[1], seq: m[2].replace(/^0+(?=\d)/, '') } : null;
  }
  /** Decimal strings compared as numbers of any size. */
  function seqLessOrEqual(a, b) { return a.length !== b.length ? a.length < b.length : a <= b; }

  /** Moves the page's position to `id` if it is newer; false for an event already seen. */
  function advance(id) {
    const p = parseCursor(id);
    if (!p) { model.cursor = id; dirtyHeader = true; return true; }
    if (p.epoch === lastEpoch && lastSeq !== null && seqLessOrEqual(p.seq, lastSeq)) return false;
    lastEpoch = p.epoch;
    lastSeq = p.seq;
    model.cursor = id;
    dirtyHeader = true;
    return true;
  }
  /** A new stream instance: keep `cursor` to show and send back, but accept whatever follows. */
  function forgetPosition(cursor) {
    lastEpoch = null;
    lastSeq = null;
    model.cursor = cursor || null;
    dirtyHeader = true;
  }

  function kindOf(name) {
    let kind = BY_NAME.get(name) || BY_VARIANT.get(name);
    if (!kind) {
      // A kind newer than this page (edges pass unknown kinds through): count it under "other".
      kind = { variant: name, name: name, priority: 'other', index: BY_NAME.size };
      BY_NAME.set(name, kind);
      addKindRow(kind);
    }
    return kind;
  }

  function matchesDesired(kind) {
    return (desired.kinds === null || desired.kinds.has(kind.name))
      && (desired.priority === 'all' || kind.priority === desired.priority);
  }

  // ---------------------------------------------------------------- one-line summaries

  const SUMMARIES = {
    'tips.update': function (d) {
      return int(d.count) + ' tips on the frontier' + (Array.isArray(d.tips) && d.tips.length ? ', e.g. ' + short(d.tips[0]) : '');
    },
    'finality.update': function (d) { return 'message ' + short(d.message_id) + ' is final (' + str(d.finality_type) + ')'; },
    'message.new': function (d) { return 'message ' + short(d.message_id) + ' added at depth ' + int(d.depth); },
    'message.rejected': function (d) {
      return 'message ' + short(d.message_id) + ' rejected: ' + str(d.reason) + ' (' + str(d.rejection_type).replace(/_/g, ' ') + ')';
    },
    'deposit.escrowed': function (d) { return amount(d.amount) + ' ADIC deposit held from ' + short(d.validator_address) + ' for message ' + short(d.message_id); },
    'deposit.slashed': function (d) { return amount(d.amount) + ' ADIC deposit of ' + short(d.validator_address) + ' slashed: ' + str(d.reason); },
    'deposit.released': function (d) { return amount(d.amount) + ' ADIC deposit returned to ' + short(d.validator_address); },
    'balance.changed': function (d) {
      return short(d.address) + ' ' + str(d.change_type).replace(/_/g, ' ') + ' ' + amount(d.change_amount) + ': ' + amount(d.balance_before) + ' → ' + amount(d.balance_after);
    },
    'transfer.recorded': function (d) { return amount(d.amount) + ' ADIC from ' + short(d.from_address) + ' to ' + short(d.to_address); },
    'peer.connected': function (d) { return 'peer ' + short(d.peer_id) + ' connected from ' + str(d.address); },
    'peer.disconnected': function (d) { return 'peer ' + short(d.peer_id) + ' disconnected' + (d.reason ? ': ' + str(d.reason) : ''); },
    'vrf.commit': function (d) { return short(d.committer) + ' committed to randomness for epoch ' + int(d.target_epoch); },
    'vrf.reveal': function (d) { return short(d.revealer) + ' revealed randomness for epoch ' + int(d.target_epoch); },
    'vrf.finalized': function (d) { return 'randomness of epoch ' + int(d.epoch) + ' settled by ' + int(d.contributor_count) + ' contributors'; },
    'challenge.opened': function (d) { return 'challenge window opened on ' + short(d.subject_id) + ' until epoch ' + int(d.window_expiry_epoch); },
    'challenge.submitted': function (d) { return short(d.challenger) + ' challenged ' + short(d.subject_id); },
    'fraud.submitted': function (d) { return short(d.challenger) + ' filed a ' + str(d.fraud_type) + ' fraud proof against ' + short(d.subject_id); },
    'fraud.verified': function (d) { return 'fraud proof ' + short(d.proof_id) + (d.is_valid ? ' holds' : ' rejected'); },
    'arbitration.started': function (d) { return 'arbitration ' + short(d.arbitration_id) + ' started with ' + int(d.arbitrator_count) + ' arbitrators'; },
    'arbitration.completed': function (d) {
      return 'arbitration ' + short(d.arbitration_id) + ': ' + str(d.ruling) + ' (' + int(d.votes_for) + ' for, ' + int(d.votes_against) + ' against)';
    },
    'governance.proposal.submitted': function (d) {
      const keys = Array.isArray(d.param_keys) ? d.param_keys.map(str).join(', ') : '';
      return str(d.proposal_class) + ' proposal ' + short(d.proposal_id) + ' by ' + short(d.proposer) + (keys ? ' to change ' + keys : '');
    },
    'governance.vote.cast': function (d) { return short(d.voter) + ' voted ' + str(d.ballot) + ' on ' + short(d.proposal_id) + ' (' + fixed(d.vote_credits, 2) + ' credits)'; },
    'governance.receipt.emitted': function (d) { return 'proposal ' + short(d.proposal_id) + ': ' + str(d.result) + ', certified by ' + int(d.committee_size) + ' members'; },
    'governance.proposal.tallied': function (d) {
      return 'proposal ' + short(d.proposal_id) + ' tallied: ' + pct(d.participation_rate) + ' turnout, quorum ' + (d.quorum_met ? 'met' : 'not met');
    },
    'governance.proposal.status': function (d) { return 'proposal ' + short(d.proposal_id) + ': ' + str(d.old_status) + ' → ' + str(d.new_status); },
    'governance.proposal.enacted': function (d) {
      const changes = Array.isArray(d.param_changes) ? d.param_changes.map(str).join(', ') : '';
      return 'proposal ' + short(d.proposal_id) + ' enacted at epoch ' + int(d.enact_epoch) + (changes ? ': ' + changes : '');
    },
    'governance.parameter.changed': function (d) { return 'parameter ' + str(d.parameter_key) + ': ' + str(d.old_value) + ' → ' + str(d.new_value); },
    'governance.treasury.milestone': function (d) {
      return 'grant ' + short(d.grant_id) + ' milestone ' + str(d.milestone_id) + ' paid ' + adic(d.amount_adic) + ' ADIC' + (d.is_verified ? ' (verified)' : '');
    },
    'governance.treasury.clawback': function (d) { return adic(d.clawed_back_amount_adic) + ' ADIC clawed back from grant ' + short(d.grant_id) + ': ' + str(d.reason); },
    'governance.treasury.executed': function (d) { return adic(d.amount_adic) + ' ADIC granted to ' + short(d.recipient) + (d.milestone ? ' for ' + str(d.milestone) : ''); },
    'committee.certificate.generated': function (d) {
      return 'committee certificate for epoch ' + int(d.epoch_id) + ': ' + int(d.member_count) + ' members over ' + int(d.axes_covered) + ' axes';
    },
    'committee.aggregator.selected': function (d) { return short(d.primary_aggregator) + ' aggregates epoch ' + int(d.epoch_id) + ' (' + str(d.selection_method) + ')'; },
    'pouw.task.submitted': function (d) {
      return str(d.task_type) + ' task ' + short(d.task_id) + ' posted: ' + adic(d.reward_adic) + ' ADIC for ' + int(d.worker_count) + ' workers';
    },
    'pouw.workers.selected': function (d) { return int(d.worker_count) + ' of ' + int(d.total_eligible) + ' workers chosen for task ' + short(d.task_id); },
    'pouw.result.submitted': function (d) { return short(d.worker) + ' submitted a result for task ' + short(d.task_id); },
    'pouw.receipt.validated': function (d) {
      return 'receipt ' + short(d.receipt_id) + ': ' + int(d.accepted_count) + ' accepted, ' + int(d.rejected_count) + ' rejected' + (d.is_valid ? '' : ' (invalid)');
    },
    'diversity.update': function (d) {
      const axes = Array.isArray(d.axes) ? d.axes : [];
      const met = axes.filter(function (a) { return a && a.meets_requirement; }).length;
      return 'diversity ' + fixed(d.diversity_score, 2) + ', ' + met + ' of ' + axes.length + ' axes meet their requirement';
    },
    'energy.update': function (d) { return int(d.active_conflicts) + ' active conflicts, energy ' + fixed(d.total_energy, 2); },
    'kcore.update': function (d) {
      return int(d.finalized_count) + ' final, ' + int(d.pending_count) + ' pending' + (isNum(d.current_k_value) ? ', k = ' + d.current_k_value : '');
    },
    'sync.started': function (d) { return 'sync from peer ' + short(d.peer_id) + ' started, target height ' + int(d.target_height); },
    'sync.progress': function (d) { return 'sync from ' + short(d.peer_id) + ': ' + fixed(d.progress_percent, 1) + '% (' + int(d.synced_messages) + ' messages)'; },
    'sync.completed': function (d) {
      return 'sync from ' + short(d.peer_id) + ' done: ' + int(d.synced_messages) + ' messages in ' + (isNum(d.duration_ms) ? (d.duration_ms / 1000).toFixed(1) + ' s' : '?');
    },
    'reputation.changed': function (d) {
      return short(d.validator_address) + ' reputation ' + fixed(d.old_reputation, 2) + ' → ' + fixed(d.new_reputation, 2) + ': ' + str(d.reason);
    },
    'quorum.selected': function (d) { return str(d.domain) + ' quorum for epoch ' + int(d.epoch) + ': ' + int(d.committee_size) + ' members'; },
    'quorum.voted': function (d) { return 'vote ' + short(d.vote_id) + ': ' + str(d.result) + ' (' + int(d.votes_for) + ' for, ' + int(d.votes_against) + ' against)'; },
    'escrow.locked': function (d) { return adic(d.amount_adic) + ' ADIC locked by ' + short(d.owner) + ' (' + str(d.escrow_type) + ')'; },
    'escrow.released': function (d) { return adic(d.amount_adic) + ' ADIC released from ' + short(d.from) + ' to ' + short(d.to); },
    'escrow.slashed': function (d) { return adic(d.amount_adic) + ' ADIC slashed from ' + short(d.owner) + ': ' + str(d.reason); },
    'escrow.refunded': function (d) { return adic(d.amount_adic) + ' ADIC refunded to ' + short(d.owner); },
    'admissibility.update': function (d) { return pct(d.overall_rate) + ' of ' + int(d.sample_size) + ' recent messages admissible'; },
    'economics.update': function (d) {
      return 'supply ' + compactAmount(d.total_supply) + ', circulating ' + compactAmount(d.circulating_supply) + ', treasury ' + compactAmount(d.treasury_balance);
    },
    'node.started': function (d) { return 'node ' + short(d.node_id) + ' started (version ' + str(d.version) + ')'; },
    'node.stopped': function (d) { return 'node ' + short(d.node_id) + ' stopped: ' + str(d.reason); },
    'genesis.loaded': function (d) { return 'genesis of ' + str(d.chain_id) + ' loaded, supply ' + amount(d.total_supply); },
  };

  function summarize(name, data) {
    const f = SUMMARIES[name];
    if (f) {
      try { return f(data); } catch (e) { /* fall through to the raw fields */ }
    }
    const raw = JSON.stringify(data);
    return raw.length > 140 ? raw.slice(0, 139) + '…' : raw;
  }

  // ---------------------------------------------------------------- taking events in

  /**
   * One event from either transport. `name` is the dotted name when the transport told it (SSE),
   * `id` its cursor when it has one; snapshots update the cards only.
   */
  function ingest(name, event, id, isSnapshot) {
    if (!event || typeof event !== 'object') return;
    const data = event.data && typeof event.data === 'object' ? event.data : {};
    const kind = kindOf(name || (typeof event.type === 'string' ? event.type : 'unknown'));
    if (SNAPSHOT_KINDS.has(kind.name)) {
      model.gauges.set(kind.name, data);
      dirtyGauges.add(kind.name);
      if (kind.name === 'energy.update' && isNum(data.active_conflicts)) energyHistory.push([Date.now(), data.active_conflicts]);
      if (kind.name === 'tips.update') {
        const count = isNum(data.count) ? data.count : (Array.isArray(data.tips) ? data.tips.length : null);
        if (count !== null) {
          model.tipsCount = count;
          tipsHistory.push([Date.now(), count]);
        }
      }
    }
    if (!isSnapshot) {
      model.total += 1;
      model.byKind.set(kind.name, (model.byKind.get(kind.name) || 0) + 1);
      model.byPriority[kind.priority in model.byPriority ? kind.priority : 'other'] += 1;
      rateAdd(kind.priority);
      dirtyKinds.add(kind.name);
      feedPending.push({ kind: kind, event: event, data: data, id: id });
      if (feedPending.length > FEED_MAX * 2) feedPending = feedPending.slice(-FEED_MAX);
    }
    scheduleRender();
  }

  /** A line about the connection: in the feed where it happened, and in the connection log
   * (which keeps it in view when the feed moves fast). */
  function notice(text, level) {
    const item = { notice: text, level: level || 'info', at: Date.now() };
    feedPending.push(item);
    logPending.push(item);
    scheduleRender();
  }

  function onWsFrame(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'Event':
        if (typeof msg.id === 'string' && !advance(msg.id)) return; // already seen (resume overlap)
        ingest(null, msg.event, typeof msg.id === 'string' ? msg.id : null, false);
        break;
      case 'Snapshot':
        ingest(null, msg.event, null, true);
        break;
      case 'Progress':
        if (typeof msg.id === 'string') advance(msg.id);
        scheduleRender();
        break;
      case 'Gap':
        notice('Gap: events after ' + str(msg.requested) + ' are no longer kept by the server; continuing from '
          + str(msg.first_available) + '.', 'warn');
        break;
      case 'Reset':
        notice('The event stream was recreated' + (msg.reason ? ' (' + str(msg.reason) + ')' : '')
          + '; continuing from ' + str(msg.current) + '.', 'warn');
        forgetPosition(typeof msg.current === 'string' ? msg.current : null);
        break;
      case 'Subscribed':
      case 'Unsubscribed':
        setText('filter-ack', 'Edge confirmed: ' + (msg.type === 'Subscribed' ? 'subscribed to ' : 'unsubscribed from ')
          + (Array.isArray(msg.events) ? msg.events.map(str).join(', ') : '?') + '.');
        break;
      case 'Pong':
      case 'Authenticated':
        break;
      case 'Error':
        notice('The edge answered: ' + str(msg.message), 'error');
        setText('filter-ack', 'Edge refused: ' + str(msg.message));
        break;
      default:
        break; // message types newer than this page
    }
  }

  // ---------------------------------------------------------------- connections

  function filterQuery(q) {
    if (desired.kinds !== null) q.set('events', Array.from(desired.kinds).join(','));
    if (desired.priority !== 'all') q.set('priority', desired.priority);
    // Latest gauge values on connect, from an edge that offers them (others ignore the parameter).
    q.set('snapshot', 'true');
    return q;
  }

  function cloneKinds(kinds) { return kinds === null ? null : new Set(kinds); }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (model.state !== 'reconnecting') setState('connecting');
    if (forcedTransport !== 'sse' && typeof WebSocket === 'function' && openWebSocket()) return;
    openSse();
  }

  function openWebSocket() {
    const q = filterQuery(new URLSearchParams());
    if (model.cursor) q.set('since', model.cursor);
    let socket;
    try {
      socket = new WebSocket(WS_BASE + '?' + q.toString());
    } catch (e) {
      return false;
    }
    const c = {
      transport: 'websocket', socket: socket, open: false, sentCursor: Boolean(model.cursor),
      applied: { kinds: cloneKinds(desired.kinds), priority: desired.priority },
    };
    conn = c;
    socket.onopen = function () {
      if (conn !== c) return;
      c.open = true;
      // The token in-band (never in the URL). Without one, a Ping: an edge that needs a token
      // answers it with close 4401 at once instead of after its sign-in timeout.
      socket.send(JSON.stringify(TOKEN ? { type: 'Auth', token: TOKEN } : { type: 'Ping' }));
      becameLive(c);
    };
    socket.onmessage = function (m) {
      if (conn !== c) return;
      lastHeard = Date.now();
      if (typeof m.data === 'string') onWsFrame(m.data);
    };
    socket.onclose = function (ev) {
      if (conn !== c) return;
      conn = null;
      onWsClosed(c, ev);
    };
    return true;
  }

  function onWsClosed(c, ev) {
    if (!c.open) {
      // It never opened: WebSockets may be blocked on the way (proxy, firewall). Try SSE at once.
      if (forcedTransport !== 'websocket' && typeof EventSource === 'function') {
        openSse();
      } else {
        scheduleReconnect();
      }
      return;
    }
    const resume = /resume=(\S+)/.exec(ev.reason || '');
    switch (ev.code) {
      case 4100:
        if (c.sentCursor) {
          // The edge could not place our position (say, a cursor from a stream it does not
          // have): start again from live rather than give up.
          notice('The edge did not accept our position (' + (ev.reason || 'refused') + '); continuing from now.', 'warn');
          forgetPosition(null);
          break;
        }
        stop('The edge refused this request: ' + (ev.reason || 'policy violation') + '. Change the filters to try again.');
        return;
      case 4002:
        notice('The event stream was recreated on the server; starting over from its new beginning.', 'warn');
        forgetPosition(resume ? resume[1] : null);
        break;
      case 4001:
        notice('This page fell behind the stream; catching up.', 'warn');
        if (!model.cursor && resume) advance(resume[1]);
        break;
      case 4000:
        notice('The edge is shutting down; moving to another one.', 'info');
        if (!model.cursor && resume) advance(resume[1]);
        break;
      case 4401:
      case 4403:
        if (!model.cursor && resume) advance(resume[1]);
        stop('Not authorized: ' + (ev.reason || 'the edge refused the token').replace(/\s*resume=\S+/, '') + '.' + TOKEN_HINT);
        return;
      default:
        notice('Connection lost' + (ev.code && ev.code !== 1006 ? ' (code ' + ev.code + ')' : '') + '.', 'warn');
    }
    scheduleReconnect();
  }

  function openSse() {
    if (typeof EventSource !== 'function') {
      stop('This browser has neither a working WebSocket nor EventSource.');
      return;
    }
    const q = filterQuery(new URLSearchParams());
    if (model.cursor) q.set('last_event_id', model.cursor);
    if (TOKEN) q.set('token', TOKEN);
    const es = new EventSource(SSE_BASE + '?' + q.toString());
    const c = {
      transport: 'sse', socket: es, open: false, sawLog: false,
      applied: { kinds: cloneKinds(desired.kinds), priority: desired.priority },
    };
    conn = c;
    es.onopen = function () {
      if (conn !== c) return;
      c.open = true;
      becameLive(c);
    };
    es.onerror = function () {
      if (conn !== c) return;
      // Reconnect on our own schedule (the browser's would not prefer WebSocket again).
      es.close();
      conn = null;
      if (c.open) {
        notice('Connection lost.', 'warn');
        scheduleReconnect();
        return;
      }
      // EventSource hides the status of a refused stream: ask the polling endpoint, which
      // answers the same way, whether this is a refused token.
      setState('reconnecting');
      whyRefused(q, function (reason) {
        if (model.state !== 'reconnecting' || conn) return;
        if (reason) {
          stop('Not authorized: ' + reason + TOKEN_HINT);
        } else {
          notice('Could not reach the edge.', 'warn');
          scheduleReconnect();
        }
      });
    };
    es.addEventListener('expired', function () {
      if (conn !== c) return;
      conn = null;
      es.close();
      stop('Not authorized: the token expired.' + TOKEN_HINT);
    });
    const onEvent = function (e) {
      if (conn !== c) return;
      lastHeard = Date.now();
      let event;
      try { event = JSON.parse(e.data); } catch (err) { return; }
      const name = e.type === 'message' ? null : e.type;
      const id = e.lastEventId || null;
      // Snapshot frames come first on a fresh connection and carry no id.
      const kindName = name || (event && typeof event.type === 'string' ? event.type : '');
      const snapshot = !id && !c.sawLog && SNAPSHOT_KINDS.has(kindOf(kindName || 'unknown').name);
      if (!snapshot) c.sawLog = true;
      if (id && !advance(id)) return;
      ingest(name, event, id, snapshot);
    };
    KINDS.forEach(function (k) { es.addEventListener(k[1], onEvent); });
    es.onmessage = onEvent;
    es.addEventListener('gap', function (e) {
      if (conn !== c) return;
      let g = {};
      try { g = JSON.parse(e.data); } catch (err) { /* keep the generic text */ }
      notice('Gap: events after ' + str(g.requested) + ' are no longer kept by the server; continuing from ' + str(g.first_available) + '.', 'warn');
    });
    es.addEventListener('reset', function (e) {
      if (conn !== c) return;
      let r = {};
      try { r = JSON.parse(e.data); } catch (err) { /* keep the generic text */ }
      notice('The event stream was recreated; continuing from ' + str(r.current) + '.', 'warn');
      forgetPosition(typeof r.current === 'string' ? r.current : null);
    });
  }

  /** Calls `done` with the edge's reason when it refuses this query's token, else with null. */
  function whyRefused(q, done) {
    if (typeof fetch !== 'function') { done(null); return; }
    const probe = new URLSearchParams(q);
    probe.delete('last_event_id');
    probe.delete('snapshot');
    probe.set('wait', '0');
    probe.set('limit', '1');
    fetch(POLL_BASE + '?' + probe.toString(), { cache: 'no-store' }).then(function (r) {
      if (r.status !== 401 && r.status !== 403) { done(null); return; }
      return r.json().then(function (body) {
        done(body && typeof body.error === 'string' ? body.error : 'status ' + r.status);
      }, function () { done('status ' + r.status); });
    }, function () { done(null); });
  }

  function becameLive(c) {
    attempt = 0;
    lastHeard = Date.now();
    lastPing = Date.now();
    model.transport = c.transport;
    const how = c.transport === 'websocket' ? 'WebSocket' : 'SSE';
    if (connectedOnce) {
      notice('Reconnected via ' + how + (model.cursor ? ', asking to resume after ' + model.cursor : '') + '.', 'ok');
    } else {
      notice('Connected to ' + edgeHost + ' via ' + how + '.', 'ok');
    }
    connectedOnce = true;
    setState('live');
  }

  function closeConnection() {
    const c = conn;
    conn = null;
    if (!c) return;
    try {
      if (c.transport === 'websocket') c.socket.close(1000, 'bye'); else c.socket.close();
    } catch (e) { /* already closed */ }
  }

  function scheduleReconnect() {
    model.transport = null;
    if (retryTimer) return;
    // Exponential backoff with "equal jitter": half the step fixed, half random, so a crowd of
    // pages that lost the same edge does not come back in one wave.
    const step = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
    const delay = step / 2 + Math.random() * step / 2;
    attempt += 1;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(function () { retryTimer = null; connect(); }, delay);
    setState('reconnecting');
  }

  function reconnectNow() {
    closeConnection();
    clearTimeout(retryTimer);
    retryTimer = null;
    attempt = 0;
    connect();
  }

  function stop(reason) {
    closeConnection();
    clearTimeout(retryTimer);
    retryTimer = null;
    model.transport = null;
    model.stoppedReason = reason;
    notice(reason, 'error');
    setState('stopped');
  }

  function setState(s) {
    model.state = s;
    dirtyHeader = true;
    scheduleRender();
  }

  /** Keeps a WebSocket honest: a Ping now and then, and a dead one replaced. */
  function watchdog() {
    const c = conn;
    if (!c || c.transport !== 'websocket' || !c.open) return;
    const now = Date.now();
    if (now - lastHeard > SILENCE_LIMIT_MS) {
      closeConnection();
      notice('No word from the edge for ' + Math.round(SILENCE_LIMIT_MS / 1000) + ' s.', 'warn');
      scheduleReconnect();
      return;
    }
    if (now - lastPing >= PING_EVERY_MS) {
      lastPing = now;
      send(c, { type: 'Ping' });
    }
  }

  function send(c, message) {
    try { c.socket.send(JSON.stringify(message)); } catch (e) { /* the close handler follows */ }
  }

  // ---------------------------------------------------------------- filters

  /**
   * Brings the connection in line with the desired filters. Over WebSocket, kind changes are
   * Subscribe/Unsubscribe messages on the open connection; a priority change (no message for it)
   * or "no kind at all" (an Unsubscribe that empties the set means everything) reconnects. Over
   * SSE every change reconnects. Reconnects pass the cursor, so nothing is lost where the edge
   * can resume.
   */
  function applyFilters() {
    filterTimer = null;
    if (model.state === 'stopped') { reconnectNow(); return; }
    const c = conn;
    if (!c) { if (retryTimer) reconnectNow(); return; }
    if (c.transport !== 'websocket' || !c.open) { reconnectNow(); return; }
    const from = c.applied;
    const to = desired;
    if (from.priority !== to.priority || (to.kinds !== null && to.kinds.size === 0)) { reconnectNow(); return; }
    if (to.kinds === null) {
      if (from.kinds !== null) send(c, { type: 'Subscribe', events: ['all'] });
    } else if (from.kinds === null || from.kinds.size === 0) {
      send(c, { type: 'Subscribe', events: Array.from(to.kinds) });
    } else {
      const added = Array.from(to.kinds).filter(function (k) { return !from.kinds.has(k); });
      const removed = Array.from(from.kinds).filter(function (k) { return !to.kinds.has(k); });
      // Add before removing, so the set never empties on the way (empty would mean everything).
      if (added.length) send(c, { type: 'Subscribe', events: added });
      if (removed.length) send(c, { type: 'Unsubscribe', events: removed });
    }
    c.applied = { kinds: cloneKinds(to.kinds), priority: to.priority };
  }

  function filtersChanged() {
    syncCheckboxes();
    describeFilters();
    hideUnwanted();
    rememberFiltersInUrl();
    setText('filter-ack', '');
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilters, FILTER_DEBOUNCE_MS);
  }

  function describeFilters() {
    const n = desired.kinds === null ? KINDS.length : desired.kinds.size;
    let text;
    if (n === 0) {
      text = 'No kind selected: nothing will arrive.';
    } else if (desired.kinds === null) {
      text = 'Receiving every kind';
    } else {
      text = 'Receiving ' + n + ' of ' + KINDS.length + ' kinds';
    }
    if (n !== 0) text += desired.priority === 'all' ? '.' : ', ' + desired.priority + ' priority only.';
    setText('filter-status', text);
  }

  function hideUnwanted() {
    const feed = $('feed');
    for (let li = feed.firstElementChild; li; li = li.nextElementSibling) {
      if (!li.dataset.kind) continue;
      li.classList.toggle('filtered-out', !matchesDesired(kindOf(li.dataset.kind)));
    }
  }

  function rememberFiltersInUrl() {
    try {
      const q = new URLSearchParams(location.search);
      if (desired.kinds === null) q.delete('events'); else q.set('events', Array.from(desired.kinds).join(','));
      if (desired.priority === 'all') q.delete('priority'); else q.set('priority', desired.priority);
      const s = q.toString();
      history.replaceState(null, '', location.pathname + (s ? '?' + s : '') + location.hash);
    } catch (e) { /* file:// pages and sandboxes may refuse; the filters still work */ }
  }

  function filtersFromUrl() {
    const p = params.get('priority');
    if (p && ['all', 'high', 'medium', 'low'].indexOf(p.toLowerCase()) >= 0) desired.priority = p.toLowerCase();
    const events = params.get('events');
    if (events !== null && events.trim().toLowerCase() !== 'all') {
      const names = events.split(',').map(function (s) { return s.trim(); }).filter(function (s) { return BY_NAME.has(s); });
      desired.kinds = names.length === KINDS.length ? null : new Set(names);
    }
    $('filter-priority').value = desired.priority;
  }

  // ---------------------------------------------------------------- kinds table

  const rows = new Map(); // dotted name -> { row, count, input }
  const groupInputs = new Map(); // priority -> group checkbox

  function buildKindsTable() {
    const table = $('kinds');
    PRIORITIES.concat(['other']).forEach(function (p) {
      const body = el('tbody', 'group-' + p);
      body.dataset.priority = p;
      const head = el('tr', 'group prio-' + p);
      const th = el('th');
      th.colSpan = 3;
      th.scope = 'rowgroup';
      const label = el('label');
      if (p !== 'other') {
        const input = el('input');
        input.type = 'checkbox';
        input.dataset.filterGroup = p;
        input.addEventListener('change', function () {
          const on = input.checked;
          const set = desired.kinds === null ? new Set(BY_NAME.keys()) : new Set(desired.kinds);
          KINDS.forEach(function (k) { if (k[2] === p) { if (on) set.add(k[1]); else set.delete(k[1]); } });
          setDesiredKinds(set);
        });
        groupInputs.set(p, input);
        label.append(input);
      }
      label.append(el('span', 'swatch'), el('span', null, PRIORITY_TEXT[p]));
      th.append(label);
      head.append(th);
      body.append(head);
      if (p === 'other') body.hidden = true;
      table.append(body);
    });
    KINDS.forEach(function (k) { addKindRow(BY_NAME.get(k[1])); });
  }

  function addKindRow(kind) {
    const table = $('kinds');
    if (!table || rows.has(kind.name)) return;
    const body = table.querySelector('tbody[data-priority="' + kind.priority + '"]');
    const row = el('tr', 'kind-row prio-' + kind.priority + ' zero');
    row.dataset.kind = kind.name;
    const box = el('td', 'box');
    const label = el('td', 'name');
    const count = el('td', 'num', '0');
    const id = 'fk-' + kind.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    let input = null;
    if (kind.priority !== 'other') {
      input = el('input');
      input.type = 'checkbox';
      input.id = id;
      input.dataset.filterKind = kind.name;
      input.checked = desired.kinds === null || desired.kinds.has(kind.name);
      input.addEventListener('change', onKindBox);
      box.append(input);
    }
    const text = el('label', null, kind.name);
    if (input) text.htmlFor = id;
    text.title = kind.variant + ' · ' + kind.priority + ' priority' + (SNAPSHOT_KINDS.has(kind.name) ? ' · gauge (newest value wins)' : '');
    label.append(text);
    row.append(box, label, count);
    body.append(row);
    if (kind.priority === 'other') body.hidden = false;
    rows.set(kind.name, { row: row, count: count, input: input });
  }

  function onKindBox() {
    const set = new Set();
    rows.forEach(function (r, name) { if (r.input && r.input.checked) set.add(name); });
    setDesiredKinds(set);
  }

  function setDesiredKinds(set) {
    desired.kinds = set.size === KINDS.length ? null : set;
    filtersChanged();
  }

  function syncCheckboxes() {
    rows.forEach(function (r, name) {
      if (r.input) r.input.checked = desired.kinds === null || desired.kinds.has(name);
      const kind = BY_NAME.get(name);
      r.row.classList.toggle('off', !matchesDesired(kind));
    });
    groupInputs.forEach(function (input, p) {
      const names = KINDS.filter(function (k) { return k[2] === p; }).map(function (k) { return k[1]; });
      const on = names.filter(function (n) { return desired.kinds === null || desired.kinds.has(n); }).length;
      input.checked = on === names.length;
      input.indeterminate = on > 0 && on < names.length;
    });
  }

  // ---------------------------------------------------------------- rate chart

  const rateSlots = [];
  for (let i = 0; i <= RATE_WINDOW_S; i++) rateSlots.push({ sec: -1, high: 0, medium: 0, low: 0, other: 0 });

  function rateAdd(priority) {
    const sec = Math.floor(Date.now() / 1000);
    const slot = rateSlots[sec % rateSlots.length];
    if (slot.sec !== sec) { slot.sec = sec; slot.high = 0; slot.medium = 0; slot.low = 0; slot.other = 0; }
    slot[priority in slot ? priority : 'other'] += 1;
  }

  function rateAt(sec) {
    const slot = rateSlots[sec % rateSlots.length];
    return slot.sec === sec ? slot : null;
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
  }

  function niceCeil(x) {
    if (x <= 5) return 5;
    const mag = Math.pow(10, Math.floor(Math.log10(x)));
    const steps = [1, 2, 2.5, 5, 10];
    for (let i = 0; i < steps.length; i++) if (steps[i] * mag >= x) return steps[i] * mag;
    return 10 * mag;
  }

  function drawChart() {
    const canvas = $('rate-chart');
    if (!canvas) return;
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    // The last minute, or less while the page is young, so the chart is never mostly empty.
    const now = Math.floor(Date.now() / 1000);
    const windowSecs = Math.max(10, Math.min(RATE_WINDOW_S, now - Math.floor(startedAt / 1000) + 1));
    setText('rate-since', windowSecs + ' s ago');
    const secs = [];
    let max = 0;
    for (let s = now - windowSecs + 1; s <= now; s++) {
      const slot = rateAt(s);
      const total = slot ? slot.high + slot.medium + slot.low + slot.other : 0;
      secs.push({ slot: slot, total: total, current: s === now });
      if (s !== now) max = Math.max(max, total);
    }
    const top = niceCeil(max);
    const padTop = 14;
    const plot = height - padTop - 2;

    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = cssVar('--muted');
    ctx.strokeStyle = cssVar('--grid');
    ctx.lineWidth = 1;
    const gridY = function (f) { return Math.round(padTop + plot * (1 - f)) + 0.5; };
    [1, 0.5].forEach(function (f) {
      ctx.beginPath();
      ctx.moveTo(0, gridY(f));
      ctx.lineTo(width, gridY(f));
      ctx.stroke();
    });

    const colors = { high: cssVar('--high'), medium: cssVar('--medium'), low: cssVar('--low'), other: cssVar('--muted') };
    const barW = width / windowSecs;
    secs.forEach(function (s, i) {
      if (!s.slot) return;
      let y = padTop + plot;
      ctx.globalAlpha = s.current ? 0.45 : 0.9;
      ['high', 'medium', 'low', 'other'].forEach(function (p) {
        const h = plot * s.slot[p] / top;
        if (h <= 0) return;
        ctx.fillStyle = colors[p];
        ctx.fillRect(i * barW + 0.5, y - h, Math.max(1, barW - 1.5), h);
        y -= h;
      });
    });
    ctx.globalAlpha = 1;

    // Scale labels last, on a patch of background so bars never hide them.
    const surface = cssVar('--surface');
    [1, 0.5].forEach(function (f) {
      const label = intFormat.format(top * f) + '/s';
      const y = gridY(f);
      ctx.fillStyle = surface;
      ctx.fillRect(0, y - 13, ctx.measureText(label).width + 6, 12);
      ctx.fillStyle = cssVar('--muted');
      ctx.fillText(label, 2, y - 3);
    });

    // The average over the last few complete seconds (fewer right after the page opened).
    const span = Math.max(1, Math.min(5, now - Math.floor(startedAt / 1000)));
    let recent = 0;
    for (let s = now - span; s < now; s++) {
      const slot = rateAt(s);
      if (slot) recent += slot.high + slot.medium + slot.low + slot.other;
    }
    const perSecond = recent / span;
    setText('rate-now', model.total ? '≈ ' + perSecond.toFixed(perSecond < 10 ? 1 : 0) + ' events/s' : '—');
  }

  function trimHistory(history) {
    const cutoff = Date.now() - RATE_WINDOW_S * 1000;
    while (history.length && history[0][0] < cutoff) history.shift();
  }

  /** A small line of the last minute of a gauge, drawn by hand like the rate chart. */
  function drawSpark(id, history, colorVar) {
    const canvas = $(id);
    if (!canvas) return;
    trimHistory(history);
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (history.length < 2) return;
    let lo = Infinity;
    let hi = -Infinity;
    history.forEach(function (h) { lo = Math.min(lo, h[1]); hi = Math.max(hi, h[1]); });
    if (hi === lo) { hi += 1; lo = Math.max(0, lo - 1); }
    // Scaled to the history there is (up to a minute), at least 10 s.
    const now = Date.now();
    const span = Math.max(10000, now - history[0][0]);
    const x = function (t) { return width * (1 - (now - t) / span); };
    const y = function (v) { return 3 + (height - 6) * (1 - (v - lo) / (hi - lo)); };
    const color = cssVar(colorVar);
    ctx.beginPath();
    history.forEach(function (h, i) {
      // A step line: a gauge holds its value until the next update.
      if (i === 0) ctx.moveTo(x(h[0]), y(h[1]));
      else { ctx.lineTo(x(h[0]), y(history[i - 1][1])); ctx.lineTo(x(h[0]), y(h[1])); }
    });
    ctx.lineTo(width, y(history[history.length - 1][1]));
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    ctx.stroke();
    ctx.lineTo(width, height);
    ctx.lineTo(x(history[0][0]), height);
    ctx.closePath();
    ctx.globalAlpha = 0.12;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }

  // ---------------------------------------------------------------- rendering

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(render);
    setTimeout(render, 250); // rAF does not run in background tabs
  }

  function render() {
    if (!renderQueued) return;
    renderQueued = false;
    if (dirtyHeader) renderHeader();
    if (dirtyGauges.size) renderGauges();
    if (dirtyKinds.size) renderCounts();
    renderFeed();
    renderLog();
  }

  function renderLog() {
    if (!logPending.length) return;
    const log = $('log');
    logPending.forEach(function (item) { log.insertBefore(noticeEntry(item), log.firstChild); });
    logPending = [];
    while (log.childElementCount > LOG_MAX) log.lastElementChild.remove();
  }

  const STATE_TEXT = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', stopped: 'Stopped' };

  function renderHeader() {
    dirtyHeader = false;
    const how = model.transport === 'websocket' ? 'WebSocket' : model.transport === 'sse' ? 'SSE' : null;
    let text = STATE_TEXT[model.state] || model.state;
    if (model.state === 'live' && how) text = 'Live via ' + how;
    if (model.state === 'reconnecting' && retryTimer) {
      const secs = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text = secs > 0 ? 'Reconnecting in ' + secs + ' s…' : 'Reconnecting…';
    }
    setText('state', text);
    $('state').dataset.state = model.state;
    $('status').dataset.state = model.state;
    $('status').title = model.state === 'stopped' ? model.stoppedReason : '';
    setText('transport', how || '—');
    setText('cursor', model.cursor || '—');
  }

  function setBar(id, f) {
    const node = $(id);
    if (node) node.style.width = (Math.max(0, Math.min(1, f)) * 100).toFixed(1) + '%';
  }

  function renderGauges() {
    dirtyGauges.forEach(function (name) {
      const d = model.gauges.get(name) || {};
      switch (name) {
        case 'tips.update': {
          setText('tips-count', model.tipsCount === null ? '—' : int(model.tipsCount));
          trimHistory(tipsHistory);
          let lo = Infinity;
          let hi = -Infinity;
          tipsHistory.forEach(function (t) { lo = Math.min(lo, t[1]); hi = Math.max(hi, t[1]); });
          setText('tips-sub', tipsHistory.length > 1 ? 'between ' + int(lo) + ' and ' + int(hi) + ' in the last minute' : 'updated ' + clock(d.timestamp));
          break;
        }
        case 'kcore.update': {
          setText('kcore-finalized', int(d.finalized_count));
          setText('kcore-pending', int(d.pending_count));
          setText('kcore-k', isNum(d.current_k_value) ? 'k = ' + d.current_k_value : '');
          const all = (d.finalized_count || 0) + (d.pending_count || 0);
          setBar('kcore-bar', all ? (d.finalized_count || 0) / all : 0);
          break;
        }
        case 'diversity.update': {
          setText('diversity-score', fixed(d.diversity_score, 2));
          const axes = Array.isArray(d.axes) ? d.axes : [];
          const met = axes.filter(function (a) { return a && a.meets_requirement; }).length;
          setText('diversity-sub', axes.length ? met + ' of ' + axes.length + ' axes meet their requirement' : '');
          const box = $('diversity-axes');
          box.replaceChildren();
          axes.forEach(function (a) {
            const chip = el('span', 'axis' + (a && a.meets_requirement ? ' met' : ''), 'axis ' + str(a && a.axis));
            chip.title = int(a && a.distinct_balls) + ' distinct balls at radius ' + str(a && a.radius) + ', needs ' + int(a && a.required_diversity);
            box.append(chip);
          });
          break;
        }
        case 'energy.update':
          setText('energy-active', int(d.active_conflicts));
          setText('energy-total', fixed(d.total_energy, 2));
          setText('energy-sub', int(d.resolved_conflicts) + ' of ' + int(d.total_conflicts) + ' conflicts resolved');
          break;
        case 'admissibility.update':
          setText('admissibility-overall', pct(d.overall_rate));
          ['c1', 'c2', 'c3'].forEach(function (c) {
            setText('admissibility-' + c, pct(d[c + '_rate']));
            setBar('admissibility-' + c + '-bar', fraction(d[c + '_rate']));
          });
          setText('admissibility-sample', isNum(d.sample_size) ? 'of the last ' + int(d.sample_size) + ' messages' : '');
          break;
        case 'economics.update':
          setText('supply-total', compactAmount(d.total_supply));
          $('supply-total').title = amount(d.total_supply) + ' ADIC';
          setText('supply-circulating', compactAmount(d.circulating_supply));
          $('supply-circulating').title = amount(d.circulating_supply) + ' ADIC';
          setText('supply-treasury', compactAmount(d.treasury_balance));
          $('supply-treasury').title = amount(d.treasury_balance) + ' ADIC';
          break;
        case 'sync.progress':
          setText('sync-percent', isNum(d.progress_percent) ? d.progress_percent.toFixed(1) + '%' : '—');
          setBar('sync-bar', isNum(d.progress_percent) ? d.progress_percent / 100 : 0);
          setText('sync-sub', 'from peer ' + short(d.peer_id) + ' · ' + int(d.synced_messages) + ' messages');
          break;
        default:
          break;
      }
    });
    dirtyGauges.clear();
  }

  function renderCounts() {
    setText('count-total', int(model.total));
    PRIORITIES.forEach(function (p) { setText('count-' + p, int(model.byPriority[p])); });
    dirtyKinds.forEach(function (name) {
      const r = rows.get(name);
      if (!r) return;
      const n = model.byKind.get(name) || 0;
      r.count.textContent = int(n);
      r.row.classList.toggle('zero', n === 0);
    });
    dirtyKinds.clear();
  }

  function renderFeed() {
    if (!feedPending.length) return;
    const batch = feedPending.length > FEED_MAX ? feedPending.slice(-FEED_MAX) : feedPending;
    const dropped = feedPending.length - batch.length;
    feedPending = [];
    if (paused) {
      skipped += batch.length + dropped;
      setText('feed-paused', int(skipped) + ' new while paused');
      return;
    }
    const feed = $('feed');
    const frag = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) frag.append(batch[i].notice ? noticeEntry(batch[i]) : eventEntry(batch[i]));
    feed.insertBefore(frag, feed.firstChild);
    while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
    $('feed-empty').hidden = feed.childElementCount > 0;
  }

  function eventEntry(item) {
    const li = el('li', 'entry prio-' + item.kind.priority);
    li.dataset.kind = item.kind.name;
    if (item.id) li.dataset.id = item.id;
    if (!matchesDesired(item.kind)) li.classList.add('filtered-out');
    const details = el('details');
    const summary = el('summary');
    const when = el('time', 'when', clock(item.data.timestamp));
    when.title = 'Event time on the node';
    const kind = el('span', 'kind', item.kind.name);
    kind.title = item.kind.name + ' (' + item.kind.variant + ', ' + item.kind.priority + ' priority)';
    summary.append(when, kind, el('span', 'text', summarize(item.kind.name, item.data)));
    details.append(summary);
    details.addEventListener('toggle', function () {
      if (!details.open || details.childElementCount > 1) return;
      const meta = el('p', 'meta');
      meta.append(
        el('span', null, item.kind.variant),
        el('span', null, item.kind.priority + ' priority'),
        el('span', 'mono', item.id ? 'cursor ' + item.id : 'no cursor'),
      );
      details.append(meta, el('pre', 'json', JSON.stringify(item.event, null, 2)));
    });
    li.append(details);
    return li;
  }

  function noticeEntry(item) {
    const li = el('li', 'notice notice-' + item.level);
    li.append(el('time', 'when', clock(item.at / 1000)), el('span', 'text', item.notice));
    return li;
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    filtersFromUrl();
    buildKindsTable();
    syncCheckboxes();
    describeFilters();

    $('filter-all').addEventListener('click', function () { desired.kinds = null; filtersChanged(); });
    $('filter-none').addEventListener('click', function () { desired.kinds = new Set(); filtersChanged(); });
    $('filter-priority').addEventListener('change', function (e) { desired.priority = e.target.value; filtersChanged(); });
    $('feed-pause').addEventListener('click', function (e) {
      paused = !paused;
      e.target.textContent = paused ? 'Resume' : 'Pause';
      e.target.setAttribute('aria-pressed', String(paused));
      if (!paused && skipped) notice(int(skipped) + ' events arrived while paused (still counted above).', 'info');
      skipped = 0;
      setText('feed-paused', paused ? 'paused' : '');
    });
    $('feed-clear').addEventListener('click', function () {
      $('feed').replaceChildren();
      $('feed-empty').hidden = false;
    });

    window.addEventListener('online', function () { if (retryTimer) reconnectNow(); });
    window.addEventListener('resize', function () {
      drawChart();
      drawSpark('tips-spark', tipsHistory, '--accent');
      drawSpark('energy-spark', energyHistory, '--warn');
    });
    if (window.matchMedia) {
      const mq = window.matchMedia('(prefers-color-scheme: dark)');
      if (mq.addEventListener) mq.addEventListener('change', drawChart);
    }
    setInterval(function () {
      drawChart();
      drawSpark('tips-spark', tipsHistory, '--accent');
      drawSpark('energy-spark', energyHistory, '--warn');
      if (model.state === 'reconnecting') { dirtyHeader = true; scheduleRender(); }
      if (tipsHistory.length) { dirtyGauges.add('tips.update'); }
    }, 1000);
    setInterval(watchdog, 5000);
    drawChart();
    connect();
  }

  // ---------------------------------------------------------------- for tests and curious people

  function flush() {
    renderQueued = true;
    render();
  }

  Object.defineProperty(window, 'adicDashboard', {
    enumerable: true,
    configurable: false,
    writable: false,
    value: Object.freeze({
      /** The id of the newest event (or Progress) received, verbatim; null before any. */
      get cursor() { return model.cursor; },
      /** 'websocket' | 'sse' while connected, else null. */
      get transport() { return model.state === 'live' ? model.transport : null; },
      /** 'connecting' | 'live' | 'reconnecting' | 'stopped'. */
      get state() { return model.state; },
      /** Why the page stopped ('' unless stopped), e.g. "Not authorized: …". */
      get stoppedReason() { return model.state === 'stopped' ? model.stoppedReason : ''; },
      /** `count` of the newest tips.update, null before one arrived. */
      get tipsCount() { return model.tipsCount; },
      /** Events received since the page opened (snapshots not included). */
      get total() { return model.total; },
      /** Dotted name -> events received of that kind. */
      get countsByKind() {
        const out = {};
        model.byKind.forEach(function (n, name) { Object.defineProperty(out, name, { value: n, enumerable: true }); });
        return out;
      },
      /** The data-kind of every event entry in the feed, newest first. */
      feedKinds: function () {
        flush();
        return Array.from($('feed').querySelectorAll(':scope > li[data-kind]'), function (li) { return li.dataset.kind; });
      },
      /** The data-id of every event entry in the feed, newest first ('' when it had none). */
      feedIds: function () {
        flush();
        return Array.from($('feed').querySelectorAll(':scope > li[data-kind]'), function (li) { return li.dataset.id || ''; });
      },
    }),
  });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
