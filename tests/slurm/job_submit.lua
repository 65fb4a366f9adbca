--[[
A per-user submit limit for the test cluster's `capped` partition, as sites set one with a
QOS's MaxSubmitJobsPerUser: a user's jobs there, pending or running, each array task counted,
may not exceed LIMIT. Slurm refuses a submission past it with the error a QOS limit gives
(ESLURM_ACCOUNTING_POLICY: "Job violates accounting/QOS policy (job submit limit, ...)").
The test cluster has no accounting database, which QOS limits need; a job_submit plugin
enforces the same rule in slurmctld itself. Installed by tests/slurm/start-cluster.sh.
--]]

local PARTITION = "capped"
local LIMIT = 3

-- Jobs this script accepted that slurm.jobs does not show yet: slurmctld rebuilds that table
-- only when a job changed in a later second than its last rebuild, so a job accepted in the
-- same second is missing from it. Each is marked (admin_comment) and counted here until seen,
-- or for UNSEEN_S at most: the next job to start or end, a second later, rebuilds the table,
-- and a job that ended unseen is purged from it after MinJobAge, so its mark would never go.
local UNSEEN_S = 30
local unseen = {}
local accepted = 0

-- How many tasks an --array specification such as "0-3%2" or "0,2,5-7:2" asks for.
local function array_tasks(spec)
	if spec == nil or spec == "" then
		return 1
	end
	local n = 0
	for part in string.gmatch((string.gsub(spec, "%%.*$", "")), "[^,]+") do
		local first, last, step = string.match(part, "^(%d+)-(%d+):?(%d*)$")
		if first then
			step = tonumber(step) or 1
			n = n + math.floor((tonumber(last) - tonumber(first)) / step) + 1
		else
			n = n + 1
		end
	end
	return n
end

-- The user's pending and running tasks in the partition: a pending array counts its tasks.
local function submitted(user_id)
	local n = 0
	for _, job in pairs(slurm.jobs) do
		if job.admin_comment ~= nil then
			unseen[job.admin_comment] = nil
		end
		local state = job.job_state % 256 -- the base state, without flags such as COMPLETING
		if job.user_id == user_id and job.partition == PARTITION and state <= 2 then
			local tasks = job.array_task_cnt
			n = n + ((tasks ~= nil and tasks > 0) and tasks or 1)
		end
	end
	local now = os.time()
	for mark, job in pairs(unseen) do
		if now - job.at > UNSEEN_S then
			unseen[mark] = nil
		elseif job.user_id == user_id then
			n = n + job.tasks
		end
	end
	return n
end

function slurm_job_submit(job_desc, part_list, submit_uid)
	if job_desc.partition ~= PARTITION then
		return slurm.SUCCESS
	end
	local have, asked = submitted(job_desc.user_id), array_tasks(job_desc.array_inx)
	if have + asked > LIMIT then
		slurm.log_info("capped: user %d has %d jobs, asks for %d more, limit %d",
			job_desc.user_id, have, asked, LIMIT)
		return slurm.ESLURM_ACCOUNTING_POLICY
	end
	accepted = accepted + 1
	local mark = string.format("%s-%d-%d", PARTITION, os.time(), accepted)
	job_desc.admin_comment = mark
	unseen[mark] = { user_id = job_desc.user_id, tasks = asked, at = os.time() }
	return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
	return slurm.SUCCESS
end

return slurm.SUCCESS
