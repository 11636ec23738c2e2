-- The result store's SQLite schema before the capacity tables (commit 9246d7e, probe/store.py),
-- generated with CreateTable/CreateIndex: a database file of that version must still open.
CREATE TABLE runs (
	id VARCHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	endpoint VARCHAR(500) NOT NULL, 
	backend VARCHAR(20), 
	model VARCHAR(300) NOT NULL, 
	settings JSON NOT NULL, 
	summary JSON, 
	status VARCHAR(20) NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_runs_model ON runs (model);
CREATE INDEX ix_runs_created_at ON runs (created_at);
CREATE TABLE samples (
	id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	concurrency INTEGER NOT NULL, 
	idx INTEGER NOT NULL, 
	warmup BOOLEAN NOT NULL, 
	ok BOOLEAN NOT NULL, 
	started_s FLOAT, 
	ttft_s FLOAT, 
	e2e_s FLOAT, 
	tpot_s FLOAT, 
	itl_s JSON, 
	output_tokens INTEGER, 
	prompt_tokens INTEGER, 
	content_messages INTEGER, 
	load_s FLOAT, 
	prompt_eval_s FLOAT, 
	eval_s FLOAT, 
	total_s FLOAT, 
	cold_start BOOLEAN NOT NULL, 
	error_kind VARCHAR(40), 
	error_message VARCHAR(500), 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE INDEX ix_samples_run_id ON samples (run_id);
