/* Placeholder until the record layer lands; delete when adding real sources. */
typedef int pt__record_placeholder;
