//! W4's graph as the programs that run it without flow read it (`spawn_floor`, `w4_layers`):
//! a file `{"nodes": N, "edges": [[parent, child], ...]}` with node ids `0..N`, and a command
//! line `GRAPH.json PROGRAM [MORE...] [--jobs N]`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A parsed command line: the graph file, the program every node runs, the other positional
/// arguments, and how many nodes may run at once (2 unless `--jobs` says; at least 1).
#[derive(Debug)]
pub struct Args {
    /// The graph file.
    pub graph: String,
    /// The program each node runs.
    pub program: String,
    /// The positional arguments after the program.
    pub rest: Vec<String>,
    /// How many nodes may run at once.
    pub jobs: usize,
}

impl Args {
    /// Reads this process's arguments; `more` is how many positional arguments follow the
    /// program, and `usage` the message when they do not fit.
    ///
    /// # Errors
    /// `usage`, or what is wrong with `--jobs`.
    pub fn parse(more: usize, usage: &str) -> Result<Args, String> {
        let mut args = std::env::args().skip(1);
        let mut positional = Vec::new();
        let mut jobs = 2usize;
        while let Some(arg) = args.next() {
            if arg == "--jobs" {
                let n = args.next().ok_or("--jobs needs a number")?;
                jobs = n.parse().map_err(|e| format!("--jobs {n}: {e}"))?;
            } else {
                positional.push(arg);
            }
        }
        if positional.len() != 2 + more {
            return Err(usage.to_owned());
        }
        let rest = positional.split_off(2);
        let program = positional.pop().unwrap_or_default();
        let graph = positional.pop().unwrap_or_default();
        Ok(Args {
            graph,
            program,
            rest,
            jobs: jobs.max(1),
        })
    }
}

#[derive(serde::Deserialize)]
struct File {
    nodes: u32,
    edges: Vec<(u32, u32)>,
}

/// A graph being run: what each node unblocks, how many parents each still waits for, and
/// the nodes ready to run, the lowest id first.
#[derive(Debug)]
pub struct Dag {
    /// The nodes that each node is a parent of.
    pub children: Vec<Vec<u32>>,
    /// How many parents of each node have yet to end.
    pub waiting: Vec<u32>,
    /// The nodes whose parents have all ended, not started yet.
    pub ready: BinaryHeap<Reverse<u32>>,
}

impl Dag {
    /// Reads the graph file at `path`.
    ///
    /// # Errors
    /// A message naming the file when it cannot be read or is not a graph.
    pub fn load(path: &str) -> Result<Dag, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| format!("`{path}` is not a graph file: {e}"))?;
        let n = file.nodes as usize;
        let mut children = vec![Vec::new(); n];
        let mut waiting = vec![0u32; n];
        for &(p, c) in &file.edges {
            if p as usize >= n || c as usize >= n {
                return Err(format!("edge ({p}, {c}) names a node outside 0..{n}"));
            }
            children[p as usize].push(c);
            waiting[c as usize] += 1;
        }
        let ready = (0..file.nodes)
            .filter(|&i| waiting[i as usize] == 0)
            .map(Reverse)
            .collect();
        Ok(Dag {
            children,
            waiting,
            ready,
        })
    }

    /// How many nodes the graph has.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The next node to start, if one is ready.
    pub fn next_ready(&mut self) -> Option<u32> {
        self.ready.pop().map(|Reverse(node)| node)
    }

    /// Records that `node` ended with success: the children it was the last parent of
    /// become ready.
    pub fn ended(&mut self, node: u32) {
        for &c in &self.children[node as usize] {
            self.waiting[c as usize] -= 1;
            if self.waiting[c as usize] == 0 {
                self.ready.push(Reverse(c));
            }
        }
    }
}
