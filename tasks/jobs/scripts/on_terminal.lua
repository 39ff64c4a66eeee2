-- What happens, inside Redis, the moment a job reaches a terminal state. Every script
-- that ends a job (finish, transition, reap, batch cancel) includes this file and calls
-- ``on_terminal`` in the same step, so these follow exactly once per job, even across
-- crashes and duplicate deliveries:
--
-- - the record drops what only a live job needs: its copy of the Celery message
--   (``message``, ``message_key``: ~1 KB, a third of a small finished job's bytes), there
--   so a script can put the job back on its queue (requeue, reap, pump, the limiter's
--   release: each does so only for a queued or running job, and a terminal one is never
--   queued again), ``queue`` (the Celery queue it is routed to: read when it is queued
--   or moved, never shown) and ``attempt_id``, which makes a re-sent attempt count once
--   (only for the lease holder of a running job: ``gateway/scripts/job_attempt.lua``);
-- - a job that asked for a webhook gets its delivery scheduled (tasks.webhooks);
-- - a streaming job's stream gets its terminal event (tasks.jobs.stream), so a reader
--   never has to poll the record to learn that the stream has ended;
-- - the job is counted in the all-time usage counters (``["jobs", tenant, instance, model,
--   kind, outcome]``, ``/metrics``' ``llm_gateway_jobs_total``), once per job;
-- - a batch's job bumps the batch's counters, and the job that completes the count ends
--   the batch: status ``completed`` (or ``cancelled`` if a cancel was asked for), its own
--   webhook scheduled.
--
-- ``on_terminal(due_key, record_key, job_id, status, counted)``: call once, when the job has
-- just become terminal; ``due_key`` is the webhook due set (keys.WEBHOOKS_DUE, from KEYS).
-- ``counted`` false (a response-cache hit, ``submit_finished.lua``) leaves the usage counters
-- alone: no provider ran, and the hit is counted as one by the cache's own counters.
--!include gateway/scripts/due_set.lua
--!include gateway/scripts/keys.lua
local function schedule_webhook(due_key, key, member, event)
  redis.call('HSET', key, 'wh_status', 'pending', 'wh_event', event, 'wh_attempt_count', 0,
    'wh_next_at', now / 1000)
  schedule_at(due_key, member, now)
end

local function on_terminal(due_key, record_key, job_id, status, counted)
  local f = redis.call('HMGET', record_key, 'webhook', 'batch_id', 'validation_failed', 'stream',
    'tenant', 'provider', 'model', 'type')
  redis.call('HDEL', record_key, 'message', 'message_key', 'queue', 'attempt_id', 'first_call')
  if counted ~= false then
    local labels = {'jobs', f[5] or '', f[6] or '', f[7] or '', f[8] or '', status}
    redis.call('HINCRBY', usage_counters_key(), cjson.encode(labels), 1)
  end
  if f[1] then schedule_webhook(due_key, record_key, 'job:' .. job_id, 'job.' .. status) end
  if f[4] then
    local stream_key = job_stream_key(job_id)
    redis.call('XADD', stream_key, '*', 'e', cjson.encode({type = 'done', status = status}))
    local ttl = redis.call('PTTL', record_key)
    if ttl > 0 then redis.call('PEXPIRE', stream_key, ttl) end
  end
  if not f[2] then return end
  local bkey = batch_key(f[2])
  if redis.call('EXISTS', bkey) == 0 then return end
  redis.call('HINCRBY', bkey, 'n_' .. status, 1)
  if f[3] then redis.call('HINCRBY', bkey, 'n_validation_failed', 1) end
  local done = redis.call('HINCRBY', bkey, 'n_done', 1)
  local b = redis.call('HMGET', bkey, 'total', 'status', 'webhook')
  if done < tonumber(b[1]) then return end
  if b[2] ~= 'in_progress' and b[2] ~= 'cancelling' then return end
  local final = 'completed'
  if b[2] == 'cancelling' then final = 'cancelled' end
  redis.call('HSET', bkey, 'status', final, 'ended_at', now / 1000)
  if b[3] then schedule_webhook(due_key, bkey, 'batch:' .. f[2], 'batch.' .. final) end
end
