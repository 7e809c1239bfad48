# The province hallq-loadtest generates by default (loadtest/src/province.rs, 100 halls), as one
# tab-separated line per window, for loading into the peers:
#
#   window  hall  hall-id  window-id  services  ranks
#
# window: 0..267 over the whole province; hall: 0..99; services: the hall's service numbers
# (0-based) the window serves, in the order of the window's ranking; ranks: their ranks, in the
# same order (non-decreasing). Keep this in step with province.rs: the same tiers, services and
# windows, so the peers serve the same queues as hallq.
#
# Usage: awk -f province.awk   (no input)

# A hall of one tier, after TierShape in province.rs: `general` windows serve every service,
# each starting its ranking at another service, ranks in groups of `group`; `domain` windows
# serve `size` consecutive services each, ranked 1, 2, 3.
function hall(id, services, general, group, domain, size,    g, d, k, list, ranks) {
  for (g = 0; g < general; g++) {
    list = ""; ranks = ""
    for (k = 0; k < services; k++) {
      list = list (k ? "," : "") (k + g) % services
      ranks = ranks (k ? "," : "") int(k / group) + 1
    }
    emit(id, list, ranks)
  }
  for (d = 0; d < domain; d++) {
    list = ""; ranks = ""
    for (k = 0; k < size; k++) {
      list = list (k ? "," : "") (d * size + k) % services
      ranks = ranks (k ? "," : "") k + 1
    }
    emit(id, list, ranks)
  }
  halls++
  in_hall = 0
}

function emit(id, list, ranks) {
  printf "%d\t%d\t%s\tw%d\t%s\t%s\n", windows++, halls, id, ++in_hall, list, ranks
}

BEGIN {
  # tier_counts(100) in province.rs: 1 city, 5 counties, 30 townships, 64 villages.
  hall("city", 20, 16, 5, 8, 3)
  for (i = 1; i <= 5; i++) hall(sprintf("county-%02d", i), 10, 8, 5, 4, 3)
  for (i = 1; i <= 30; i++) hall(sprintf("town-%03d", i), 4, 4, 1, 0, 0)
  for (i = 1; i <= 64; i++) hall(sprintf("village-%04d", i), 2, 1, 1, 0, 0)
  if (windows != 268) {
    print "province.awk: " windows " windows, expected 268 as in province.rs" > "/dev/stderr"
    exit 1
  }
}
