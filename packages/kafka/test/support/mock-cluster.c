/*
 * A Kafka protocol server for Hostwork's tests: librdkafka's mock cluster (no Kafka broker is packaged for the test
 * machine). Prints "bootstrap <host:port,...>" once listening, then reads commands from stdin, one a line, answering
 * each with "ok" or "error <text>":
 *
 *   topic <name> <partitions>   create a topic (the mock creates none on demand for this program's clients)
 *   down <broker id>            the broker stops accepting and drops its connections (a simulated restart)
 *   up <broker id>              the broker accepts connections again
 *
 * Exits when stdin closes or on SIGTERM/SIGINT. Built by the tests with: cc mock-cluster.c -o mock-cluster -lrdkafka
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop = 0;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  int brokers = argc > 1 ? atoi(argv[1]) : 1;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* Logs to stderr only when asked: the mock is chatty at debug level. */
  if (getenv("MOCK_CLUSTER_DEBUG") && rd_kafka_conf_set(conf, "debug", getenv("MOCK_CLUSTER_DEBUG"), errstr,
                                                        sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "debug: %s\n", errstr);
    return 1;
  }
  /* The mock needs a client instance but this one never connects: quiet its "no bootstrap.servers" warning. */
  if (!getenv("MOCK_CLUSTER_DEBUG")) rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, brokers < 1 ? 1 : brokers);
  if (!mcluster) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  /* ListOffsets (API key 2) v4+ carries a CurrentLeaderEpoch per partition that this librdkafka's mock misreads
   * (every partition after the first answers garbage): offer clients v1-v3 only, which it reads right. */
  rd_kafka_mock_set_apiversion(mcluster, 2, 1, 3);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: fgets returns on a signal */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);

  char line[1024];
  while (!stop && fgets(line, sizeof line, stdin)) {
    char name[512];
    int n = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (sscanf(line, "topic %511s %d", name, &n) == 2) {
      err = rd_kafka_mock_topic_create(mcluster, name, n, 1);
    } else if (sscanf(line, "down %d", &n) == 1) {
      err = rd_kafka_mock_broker_set_down(mcluster, n);
    } else if (sscanf(line, "up %d", &n) == 1) {
      err = rd_kafka_mock_broker_set_up(mcluster, n);
    } else {
      printf("error unknown command: %s", line);
      fflush(stdout);
      continue;
    }
    if (err) printf("error %s\n", rd_kafka_err2str(err));
    else printf("ok\n");
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
