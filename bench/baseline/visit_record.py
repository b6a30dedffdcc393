"""The seed's visit record and its suggested IP "anonymisation".

Part of the seed's dynamodb_tracker module (see dynamodb_tracker.py), split
out so that the plain JSON-lines baseline does not have to load boto3.
"""

import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone


def anonymize_ip(ip):
    """Hash IP address for privacy (the guide's suggestion; reversible by
    brute force over the IPv4 space, which is why privtrack keys it)."""
    return hashlib.sha256(ip.encode()).hexdigest()[:16]


def create_visit_record(client_ip, user_agent, links, filenames, errors,
                        ttl_days=None):
    now = datetime.now(timezone.utc)
    record = {
        "date": now.strftime("%Y-%m-%d"),
        "timestamp": now.isoformat(),
        "session_id": f"{int(now.timestamp())}-{uuid.uuid4().hex[:8]}",
        "user_agent": user_agent,
        "num_links_submitted": len(links),
        "num_files_downloaded": len(filenames),
        "links": list(links),
        "titles": [os.path.splitext(os.path.basename(f))[0] for f in filenames],
        "filenames": [os.path.basename(f) for f in filenames],
        "has_errors": len(errors) > 0,
        "error_count": len(errors),
    }
    if client_ip is not None:
        record["client_ip"] = client_ip
    if ttl_days:
        # The guide's "Advanced Features: Add TTL".
        record["ttl"] = int((now + timedelta(days=ttl_days)).timestamp())
    return record
