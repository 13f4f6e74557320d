/*
 * coll_bench.c -- tiny MPI collective timer meant to run under SimGrid/SMPI
 * (also builds against a real MPI). Part of ubemu's "peer" reference harness.
 *
 * usage: coll_bench COLL BYTES REPS [options]
 *   COLL     allreduce | alltoall | alltoall_pairwise | p2p | fanout
 *              allreduce: MPI_Allreduce of BYTES/4 floats (MPI_SUM); BYTES is the
 *                         per-rank buffer size.
 *              alltoall : MPI_Alltoall of MPI_BYTE. By default BYTES is the total
 *                         per-rank send buffer, i.e. each rank sends BYTES/p bytes
 *                         to every rank (see --a2a-block).
 *              alltoall_pairwise: the same exchange as p-1 MPI_Sendrecv steps, at
 *                         step k rank r sends its block r+k to rank r+k and receives
 *                         from rank r-k (HCCL's / ubemu's pairwise); the own block
 *                         is a local memcpy.
 *              p2p      : one MPI_Send of BYTES from comm rank 0 to comm rank 1
 *                         (calibration of latency / bandwidth / os / or).
 *              fanout   : comm rank 0 posts p-1 MPI_Isend of BYTES (one to each
 *                         other rank) then MPI_Waitall; the others MPI_Recv
 *                         (shows whether per-message send overheads serialize).
 *   BYTES    message size in bytes (see above)
 *   REPS     number of timed repetitions
 * options:
 *   --even          run on a sub-communicator of the even world ranks only
 *                   (MPI_Comm_split); odd ranks stay idle.
 *   --a2a-block     for alltoall, BYTES is the per-destination block size.
 *   --warmup N      untimed repetitions before the timed ones (default 0).
 *   --sync MODE     aligned (default): barrier, then every rank sleeps (simulated
 *                   nanosleep) until a common instant T, so that all ranks enter
 *                   the collective at exactly the same simulated time;
 *                   barrier: plain MPI_Barrier before each repetition.
 *   --csv           print CSV instead of JSON.
 *   --shared        allocate the buffers with SMPI_SHARED_MALLOC (one copy for all
 *                   ranks: large runs fit in memory; the data is then meaningless,
 *                   so --check is ignored). Only under SMPI.
 *   --check         verify the allreduce / alltoall result on the first rep.
 *
 * For each repetition every rank measures t1 - t0 around the operation with
 * MPI_Wtime(); the max over ranks is the repetition's time. Rank 0 prints one
 * line: JSON (default) or CSV, times in seconds.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { C_ALLREDUCE, C_ALLTOALL, C_P2P, C_FANOUT, C_A2A_PAIRWISE };

static void usage(int rank)
{
  if (rank == 0)
    fprintf(stderr, "usage: coll_bench allreduce|alltoall|alltoall_pairwise|p2p|fanout BYTES REPS "
                    "[--even] [--a2a-block] [--warmup N] [--sync aligned|barrier] [--csv] [--check] "
                    "[--shared]\n");
}

/* Sleep (in simulated time under SMPI: nanosleep is intercepted) for d seconds. */
static void sim_sleep(double d)
{
  if (d <= 0)
    return;
  struct timespec ts;
  ts.tv_sec  = (time_t)d;
  ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9 + 0.5);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000L;
  }
  nanosleep(&ts, NULL);
}

/* Bring all ranks of comm to the same instant (as exactly as a ns sleep allows). */
static double sync_start(MPI_Comm comm, int aligned)
{
  MPI_Barrier(comm);
  if (!aligned)
    return MPI_Wtime();
  double now = MPI_Wtime(), tmax = 0;
  MPI_Allreduce(&now, &tmax, 1, MPI_DOUBLE, MPI_MAX, comm);
  /* The allreduce itself leaves the ranks skewed by a few latencies; 1 ms of slack
     (simulated time, costs nothing) is far more than enough. Round the target to
     a whole microsecond so it is exactly representable-ish and equal everywhere. */
  double target = (double)(long long)((tmax + 1e-3) * 1e6) / 1e6;
  sim_sleep(target - MPI_Wtime());
  return target;
}

int main(int argc, char** argv)
{
  MPI_Init(&argc, &argv);
  int wrank, wsize;
  MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);

  if (argc < 4) {
    usage(wrank);
    MPI_Finalize();
    return 1;
  }
  int coll;
  if (!strcmp(argv[1], "allreduce") || !strcmp(argv[1], "all_reduce"))
    coll = C_ALLREDUCE;
  else if (!strcmp(argv[1], "alltoall") || !strcmp(argv[1], "all_to_all"))
    coll = C_ALLTOALL;
  else if (!strcmp(argv[1], "p2p"))
    coll = C_P2P;
  else if (!strcmp(argv[1], "fanout"))
    coll = C_FANOUT;
  else if (!strcmp(argv[1], "alltoall_pairwise"))
    coll = C_A2A_PAIRWISE;
  else {
    usage(wrank);
    MPI_Finalize();
    return 1;
  }
  long long bytes = atoll(argv[2]);
  int reps        = atoi(argv[3]);
  int even = 0, a2a_block = 0, warmup = 0, aligned = 1, csv = 0, check = 0, shared = 0;
  for (int i = 4; i < argc; i++) {
    if (!strcmp(argv[i], "--even"))
      even = 1;
    else if (!strcmp(argv[i], "--a2a-block"))
      a2a_block = 1;
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
      warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--sync") && i + 1 < argc) {
      i++;
      aligned = strcmp(argv[i], "barrier") != 0;
    } else if (!strcmp(argv[i], "--csv"))
      csv = 1;
    else if (!strcmp(argv[i], "--check"))
      check = 1;
    else if (!strcmp(argv[i], "--shared"))
      shared = 1;
    else {
      usage(wrank);
      MPI_Finalize();
      return 1;
    }
  }
  if (reps < 1)
    reps = 1;

  MPI_Comm comm = MPI_COMM_WORLD;
  if (even) {
    MPI_Comm_split(MPI_COMM_WORLD, (wrank % 2 == 0) ? 0 : MPI_UNDEFINED, wrank, &comm);
  }

  if (comm != MPI_COMM_NULL) {
    int rank, p;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &p);

    long long block = 0;  /* alltoall per-destination bytes */
    size_t sbytes = 0, rbytes = 0;
    if (coll == C_ALLREDUCE) {
      sbytes = rbytes = (size_t)(bytes / 4) * 4;
    } else if (coll == C_ALLTOALL || coll == C_A2A_PAIRWISE) {
      block  = a2a_block ? bytes : bytes / p;
      sbytes = rbytes = (size_t)block * (size_t)p;
    } else {
      sbytes = rbytes = (size_t)bytes;
    }
#ifdef SMPI_SHARED_MALLOC
    if (shared)
      check = 0;
    char* sbuf = shared ? SMPI_SHARED_MALLOC(sbytes ? sbytes : 1) : malloc(sbytes ? sbytes : 1);
    char* rbuf = shared ? SMPI_SHARED_MALLOC(rbytes ? rbytes : 1) : malloc(rbytes ? rbytes : 1);
#else
    shared     = 0;
    char* sbuf = malloc(sbytes ? sbytes : 1);
    char* rbuf = malloc(rbytes ? rbytes : 1);
#endif
    if (!sbuf || !rbuf) {
      fprintf(stderr, "rank %d: out of memory\n", wrank);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (coll == C_ALLREDUCE) {
      float* f = (float*)sbuf;
      for (size_t i = 0; i < sbytes / 4; i++)
        f[i] = (float)(rank + 1);
    } else {
      for (size_t i = 0; i < sbytes; i++)
        sbuf[i] = (char)(rank * 7 + (int)(i / (block ? (size_t)block : 1)));
    }
    memset(rbuf, 0, rbytes ? rbytes : 1);

    double* times = calloc((size_t)reps, sizeof(double));
    int bad       = 0;
    for (int it = -warmup; it < reps; it++) {
      sync_start(comm, aligned);
      double t0 = MPI_Wtime();
      switch (coll) {
        case C_ALLREDUCE:
          MPI_Allreduce(sbuf, rbuf, (int)(sbytes / 4), MPI_FLOAT, MPI_SUM, comm);
          break;
        case C_ALLTOALL:
          MPI_Alltoall(sbuf, (int)block, MPI_BYTE, rbuf, (int)block, MPI_BYTE, comm);
          break;
        case C_A2A_PAIRWISE:
          memcpy(rbuf + (size_t)rank * (size_t)block, sbuf + (size_t)rank * (size_t)block, (size_t)block);
          for (int k = 1; k < p; k++) {
            int dst = (rank + k) % p, src = (rank - k + p) % p;
            MPI_Sendrecv(sbuf + (size_t)dst * (size_t)block, (int)block, MPI_BYTE, dst, 9,
                         rbuf + (size_t)src * (size_t)block, (int)block, MPI_BYTE, src, 9, comm,
                         MPI_STATUS_IGNORE);
          }
          break;
        case C_P2P:
          if (rank == 0)
            MPI_Send(sbuf, (int)bytes, MPI_BYTE, 1, 7, comm);
          else if (rank == 1)
            MPI_Recv(rbuf, (int)bytes, MPI_BYTE, 0, 7, comm, MPI_STATUS_IGNORE);
          break;
        case C_FANOUT:
          if (rank == 0) {
            MPI_Request* rq = malloc(sizeof(MPI_Request) * (size_t)p);
            for (int d = 1; d < p; d++)
              MPI_Isend(sbuf, (int)bytes, MPI_BYTE, d, 8, comm, &rq[d - 1]);
            MPI_Waitall(p - 1, rq, MPI_STATUSES_IGNORE);
            free(rq);
          } else {
            MPI_Recv(rbuf, (int)bytes, MPI_BYTE, 0, 8, comm, MPI_STATUS_IGNORE);
          }
          break;
      }
      double t1 = MPI_Wtime(), el = t1 - t0, elmax = 0;
      MPI_Reduce(&el, &elmax, 1, MPI_DOUBLE, MPI_MAX, 0, comm);
      if (it >= 0 && rank == 0)
        times[it] = elmax;
      if (check && it == (warmup > 0 ? -warmup : 0)) {
        int mybad = 0;
        if (coll == C_ALLREDUCE) {
          float expect = (float)p * (float)(p + 1) / 2.0f;
          const float* f = (const float*)rbuf;
          for (size_t i = 0; i < rbytes / 4; i++)
            if (f[i] != expect) {
              mybad = 1;
              break;
            }
        } else if (coll == C_ALLTOALL || coll == C_A2A_PAIRWISE) {
          for (int s = 0; s < p && !mybad; s++)
            for (long long j = 0; j < block; j++) {
              /* element j of block 'rank' in rank s's send buffer */
              size_t idx = (size_t)rank * (size_t)block + (size_t)j;
              if (rbuf[(size_t)s * (size_t)block + (size_t)j] != (char)(s * 7 + (int)(idx / (size_t)block))) {
                mybad = 1;
                break;
              }
            }
        }
        MPI_Allreduce(&mybad, &bad, 1, MPI_INT, MPI_MAX, comm);
      }
    }

    if (rank == 0) {
      double mn = times[0], mx = times[0], sum = 0;
      for (int i = 0; i < reps; i++) {
        if (times[i] < mn)
          mn = times[i];
        if (times[i] > mx)
          mx = times[i];
        sum += times[i];
      }
      static const char* names[] = {"allreduce", "alltoall", "p2p", "fanout", "alltoall_pairwise"};
      if (csv) {
        printf("coll,bytes,block_bytes,p,world,even,reps,sync,min_s,mean_s,max_s,check\n");
        printf("%s,%lld,%lld,%d,%d,%d,%d,%s,%.12e,%.12e,%.12e,%s\n", names[coll], bytes, block, p, wsize, even, reps,
               aligned ? "aligned" : "barrier", mn, sum / reps, mx, check ? (bad ? "FAIL" : "ok") : "skipped");
      } else {
        printf("{\"coll\": \"%s\", \"bytes\": %lld, \"block_bytes\": %lld, \"p\": %d, \"world\": %d, \"even\": %s, "
               "\"reps\": %d, \"sync\": \"%s\", \"min_s\": %.12e, \"mean_s\": %.12e, \"max_s\": %.12e, "
               "\"check\": \"%s\", \"times_s\": [",
               names[coll], bytes, block, p, wsize, even ? "true" : "false", reps, aligned ? "aligned" : "barrier",
               mn, sum / reps, mx, check ? (bad ? "FAIL" : "ok") : "skipped");
        for (int i = 0; i < reps; i++)
          printf("%s%.12e", i ? ", " : "", times[i]);
        printf("]}\n");
      }
      fflush(stdout);
    }
    free(times);
#ifdef SMPI_SHARED_FREE
    if (shared) {
      SMPI_SHARED_FREE(sbuf);
      SMPI_SHARED_FREE(rbuf);
    } else
#endif
    {
      free(sbuf);
      free(rbuf);
    }
    if (comm != MPI_COMM_WORLD)
      MPI_Comm_free(&comm);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return 0;
}
