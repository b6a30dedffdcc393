/* The layout of the public structures the Python binding declares with
 * ctypes (bindings/python/privtrack/_native.py), as this compiler lays
 * them out from include/privtrack.h: "STRUCT FIELD OFFSET SIZE" lines and
 * "STRUCT sizeof SIZE 0".  test_abi.py compares them with ctypes', so that a
 * change to a structure in the header fails a test instead of corrupting
 * memory in Python. */
#include <privtrack.h>

#include <stddef.h>
#include <stdio.h>

#define FIELD(type, field)                                                     \
    printf("%s %s %zu %zu\n", #type, #field, offsetof(type, field),            \
           sizeof(((type *)0)->field))
#define SIZE(type) printf("%s sizeof %zu 0\n", #type, sizeof(type))

int
main(void)
{
    FIELD(pt_header, name);
    FIELD(pt_header, value);
    SIZE(pt_header);

    FIELD(pt_visit, version);
    FIELD(pt_visit, remote_addr);
    FIELD(pt_visit, headers);
    FIELD(pt_visit, header_count);
    FIELD(pt_visit, links);
    FIELD(pt_visit, link_count);
    FIELD(pt_visit, filenames);
    FIELD(pt_visit, filename_count);
    FIELD(pt_visit, error_count);
    FIELD(pt_visit, time_us);
    SIZE(pt_visit);

    FIELD(pt_packed_visit, version);
    FIELD(pt_packed_visit, flags);
    FIELD(pt_packed_visit, header_count);
    FIELD(pt_packed_visit, link_count);
    FIELD(pt_packed_visit, filename_count);
    FIELD(pt_packed_visit, reserved);
    FIELD(pt_packed_visit, error_count);
    FIELD(pt_packed_visit, time_us);
    SIZE(pt_packed_visit);

    FIELD(pt_track_result, dropped);
    FIELD(pt_track_result, session_id);
    SIZE(pt_track_result);

    FIELD(pt_counters, accepted);
    FIELD(pt_counters, dropped);
    FIELD(pt_counters, stored);
    FIELD(pt_counters, spooled);
    FIELD(pt_counters, replayed);
    FIELD(pt_counters, retries);
    FIELD(pt_counters, failures);
    FIELD(pt_counters, ip_key_expired);
    FIELD(pt_counters, ip_key_unavailable);
    SIZE(pt_counters);

    FIELD(pt_tracker_options, version);
    FIELD(pt_tracker_options, dry_run);
    FIELD(pt_tracker_options, storage_path);
    FIELD(pt_tracker_options, audit);
    FIELD(pt_tracker_options, audit_userdata);
    FIELD(pt_tracker_options, queue_capacity);
    FIELD(pt_tracker_options, batch_size);
    FIELD(pt_tracker_options, batch_delay_ms);
    FIELD(pt_tracker_options, block_us);
    FIELD(pt_tracker_options, spool_dir);
    FIELD(pt_tracker_options, synchronous);
    FIELD(pt_tracker_options, read_only);
    SIZE(pt_tracker_options);

    FIELD(pt_record, date);
    FIELD(pt_record, timestamp);
    FIELD(pt_record, session_id);
    FIELD(pt_record, client_ip);
    FIELD(pt_record, user_agent);
    FIELD(pt_record, num_links_submitted);
    FIELD(pt_record, num_files_downloaded);
    FIELD(pt_record, links);
    FIELD(pt_record, link_count);
    FIELD(pt_record, titles);
    FIELD(pt_record, title_count);
    FIELD(pt_record, filenames);
    FIELD(pt_record, filename_count);
    FIELD(pt_record, has_errors);
    FIELD(pt_record, error_count);
    FIELD(pt_record, ttl);
    FIELD(pt_record, policy);
    SIZE(pt_record);

    FIELD(pt_record_list, records);
    FIELD(pt_record_list, count);
    SIZE(pt_record_list);

    FIELD(pt_spool_status, pending_records);
    FIELD(pt_spool_status, pending_bytes);
    SIZE(pt_spool_status);

    FIELD(pt_stats_options, version);
    FIELD(pt_stats_options, from);
    FIELD(pt_stats_options, to);
    FIELD(pt_stats_options, min_group);
    FIELD(pt_stats_options, top);
    FIELD(pt_stats_options, now);
    SIZE(pt_stats_options);

    printf("PT_VISIT_VERSION value %d 0\n", PT_VISIT_VERSION);
    printf("PT_TRACKER_OPTIONS_VERSION value %d 0\n",
           PT_TRACKER_OPTIONS_VERSION);
    printf("PT_STATS_OPTIONS_VERSION value %d 0\n", PT_STATS_OPTIONS_VERSION);
    printf("PT_DROP__COUNT value %d 0\n", PT_DROP__COUNT);
    printf("PT_PACKED_VISIT_VERSION value %d 0\n", PT_PACKED_VISIT_VERSION);
    printf("PT_PACKED_VISIT_REMOTE_ADDR value %u 0\n",
           PT_PACKED_VISIT_REMOTE_ADDR);
    return 0;
}
