"""A held-out set of real-API shapes: written after the detector's real-shape rules, from other
APIs' documented payloads (Stripe, Shopify, Slack, Zendesk, Google Calendar, Auth0, GitLab, PayPal,
Okta, HubSpot, Uber, PyPI, Sentry, Segment, AWS EC2, Cloudflare, Consul, GitHub commits,
Elasticsearch, Datadog, Jenkins, Grafana, Prometheus, the App Store, Twilio calls), and scored
without tuning on it: it shows how the rules carry over to APIs they were not written against.
Gold labels follow one rule: a person's name, contact data, a postal address (city-level parts of
one included), a date of birth, an IP address (versions are not), a card, an SSN, a credential.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from urllib.parse import urlencode

from bench.pii import synth
from bench.pii.realapi import _alnum, _hex, full_name, given_surname, private_ip
from bench.pii.synth import Label, Sample, _digits, _json, _record


def _email(given: str, surname: str) -> str:
    local = f"{given}.{surname}".lower().encode("ascii", "ignore").decode().replace("'", "") or "user"
    return f"{local}@example.com"


def ep_stripe_customer(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    cid = "cus_" + _alnum(rng, 14)
    body = {
        "id": cid,
        "object": "customer",
        "address": {
            "city": "South San Francisco",
            "country": "US",
            "line1": "354 Oyster Point Blvd",
            "postal_code": "94080",
            "state": "CA",
        },
        "email": _email(given, surname),
        "name": f"{given} {surname}",
        "phone": synth.intl_phone(rng),
        "invoice_prefix": _hex(rng, 8).upper(),
        "balance": 0,
        "created": synth.epoch(rng),
    }
    labels: set[Label] = {("response", t) for t in ("PERSON", "EMAIL_ADDRESS", "LOCATION", "PHONE_NUMBER")}
    return Sample(
        "GET /v1/customers/{id}", _record(rng, "GET", f"/v1/customers/{cid}", resp_body=_json(body)), labels
    )


def ep_shopify_order(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    order = {
        "id": rng.randrange(10**12, 10**13),
        "order_number": 1000 + rng.randrange(5000),
        "email": _email(given, surname),
        "browser_ip": f"216.191.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "customer": {"id": rng.randrange(10**12), "first_name": given, "last_name": surname},
        "shipping_address": {
            "address1": f"{rng.randrange(1, 999)} Amoebobacterinstraat",
            "city": "Ottawa",
            "zip": "K2P 1L4",
            "phone": "555-555-5555",
            "name": f"{given} {surname}",
        },
        "line_items": [
            {
                "title": "IPod Nano - 8GB",
                "sku": "IPOD2008PINK",
                "name": "IPod Nano - 8GB - Pink",
                "price": "199.00",
            }
        ],
        "total_price": synth.price(rng),
        "gateway": "bogus",
    }
    labels: set[Label] = {
        ("response", t) for t in ("PERSON", "EMAIL_ADDRESS", "IP_ADDRESS", "LOCATION", "PHONE_NUMBER")
    }
    return Sample(
        "GET /admin/api/2024-01/orders/{id}.json",
        _record(
            rng, "GET", f"/admin/api/2024-01/orders/{order['id']}.json", resp_body=_json({"order": order})
        ),
        labels,
    )


def ep_slack_users(rng: random.Random) -> Sample:
    members = []
    for _ in range(rng.randrange(1, 4)):
        given, surname = given_surname(rng)
        handle = given.lower().encode("ascii", "ignore").decode() or "user"
        members.append(
            {
                "id": "W0" + _alnum(rng, 7).upper(),
                "name": handle,
                "real_name": f"{given} {surname}",
                "tz": "America/Los_Angeles",
                "profile": {
                    "real_name": f"{given} {surname}",
                    "display_name": handle,
                    "email": _email(given, surname),
                    "image_24": "https://a.slack-edge.com/x.png",
                },
                "is_admin": rng.random() < 0.2,
            }
        )
    return Sample(
        "GET /api/users.list",
        _record(
            rng,
            "GET",
            "/api/users.list?limit=200",
            req_headers=[["Authorization", "Bearer xoxb-" + _alnum(rng, 40)]],
            resp_body=_json({"ok": True, "members": members}),
        ),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS"), ("header", "CREDENTIAL")},
    )


def ep_zendesk_ticket(rng: random.Random) -> Sample:
    labels: set[Label] = set()
    description = rng.choice(
        [
            "The fire is very colorful.",
            "Printer on floor 3 is jammed again.",
            "Cannot log in since the update.",
        ]
    )
    if rng.random() < 0.4:
        description = f"Hi, this is {full_name(rng)} from accounting. {description}"
        labels.add(("response", "PERSON"))
    ticket = {
        "id": rng.randrange(10**5),
        "subject": "Help, my printer is on fire!",
        "description": description,
        "requester_id": rng.randrange(10**8),
        "via": {"channel": "web"},
        "custom_fields": [{"id": 27642, "value": str(rng.randrange(1000))}],
        "satisfaction_rating": {"score": "good"},
    }
    return Sample(
        "GET /api/v2/tickets/{id}.json",
        _record(rng, "GET", f"/api/v2/tickets/{ticket['id']}.json", resp_body=_json({"ticket": ticket})),
        labels,
    )


def ep_calendar_event(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    other = given_surname(rng)
    event = {
        "kind": "calendar#event",
        "summary": "Quarterly review",
        "organizer": {"email": _email(given, surname), "displayName": f"{given} {surname}"},
        "attendees": [
            {"email": _email(*other), "displayName": f"{other[0]} {other[1]}", "responseStatus": "accepted"}
        ],
        "start": {"dateTime": "2024-05-02T10:00:00-07:00"},
        "location": "Conference Room 4B",
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
    }
    return Sample(
        "GET /calendar/v3/calendars/{calendarId}/events/{eventId}",
        _record(
            rng,
            "GET",
            f"/calendar/v3/calendars/primary/events/{_alnum(rng, 26).lower()}",
            resp_body=_json(event),
        ),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS")},
    )


def ep_auth0_user(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    mail = _email(given, surname)
    uid = "auth0|" + _hex(rng, 24)
    user = {
        "user_id": uid,
        "email": mail,
        "name": mail,
        "nickname": mail.split("@")[0],
        "picture": "https://s.gravatar.com/avatar/" + _hex(rng, 32) + "?s=480",
        "last_ip": f"203.0.113.{rng.randrange(1, 255)}",
        "logins_count": rng.randrange(100),
        "identities": [
            {
                "provider": "auth0",
                "user_id": uid[6:],
                "connection": "Username-Password-Authentication",
                "isSocial": False,
            }
        ],
    }
    return Sample(
        "GET /api/v2/users/{id}",
        _record(rng, "GET", f"/api/v2/users/auth0%7C{uid[6:]}", resp_body=_json(user)),
        {("response", "EMAIL_ADDRESS"), ("response", "IP_ADDRESS")},
    )


def ep_gitlab_mr(rng: random.Random) -> Sample:
    mr = {
        "iid": rng.randrange(1, 500),
        "title": "Fix login redirect",
        "author": {"id": 1, "name": "Administrator", "username": "root", "state": "active"},
        "assignees": [{"id": rng.randrange(100), "name": full_name(rng), "username": "sidney_jones"}],
        "source_branch": "fix-login",
        "sha": _hex(rng, 40),
        "upvotes": rng.randrange(5),
    }
    return Sample(
        "GET /api/v4/projects/{id}/merge_requests/{iid}",
        _record(
            rng,
            "GET",
            f"/api/v4/projects/{rng.randrange(10**4)}/merge_requests/{mr['iid']}",
            resp_body=_json(mr),
        ),
        {("response", "PERSON")},
    )


def ep_paypal_order(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    order = {
        "id": _alnum(rng, 17).upper(),
        "intent": "CAPTURE",
        "status": "COMPLETED",
        "payer": {
            "name": {"given_name": given, "surname": surname},
            "email_address": _email(given, surname),
            "payer_id": _alnum(rng, 13).upper(),
            "address": {"country_code": "US"},
        },
        "purchase_units": [
            {
                "reference_id": _hex(rng, 32),
                "shipping": {
                    "address": {
                        "address_line_1": "2211 N First Street",
                        "admin_area_2": "San Jose",
                        "postal_code": "95131",
                    }
                },
            }
        ],
    }
    return Sample(
        "GET /v2/checkout/orders/{id}",
        _record(rng, "GET", f"/v2/checkout/orders/{order['id']}", resp_body=_json(order)),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS"), ("response", "LOCATION")},
    )


def ep_okta_user(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    user = {
        "id": "00u" + _alnum(rng, 17),
        "status": "ACTIVE",
        "profile": {
            "firstName": given,
            "lastName": surname,
            "email": _email(given, surname),
            "login": _email(given, surname),
            "mobilePhone": f"555-{rng.randrange(200, 999)}-{_digits(rng, 4)}",
        },
    }
    return Sample(
        "GET /api/v1/users/{id}",
        _record(
            rng,
            "GET",
            f"/api/v1/users/{user['id']}",
            req_headers=[["Authorization", "SSWS " + _alnum(rng, 42)]],
            resp_body=_json(user),
        ),
        {
            ("response", "PERSON"),
            ("response", "EMAIL_ADDRESS"),
            ("response", "PHONE_NUMBER"),
            ("header", "CREDENTIAL"),
        },
    )


def ep_hubspot_contacts(rng: random.Random) -> Sample:
    results = []
    for _ in range(rng.randrange(1, 4)):
        given, surname = given_surname(rng)
        results.append(
            {
                "id": str(rng.randrange(10**6)),
                "properties": {
                    "firstname": given,
                    "lastname": surname,
                    "email": _email(given, surname),
                    "company": "HubSpot",
                    "createdate": "2019-10-30T03:30:17.883Z",
                    "phone": f"({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{_digits(rng, 4)}",
                },
            }
        )
    return Sample(
        "GET /crm/v3/objects/contacts",
        _record(rng, "GET", "/crm/v3/objects/contacts?limit=10", resp_body=_json({"results": results})),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS"), ("response", "PHONE_NUMBER")},
    )


def ep_uber_ride(rng: random.Random) -> Sample:
    ride = {
        "request_id": _hex(rng, 32),
        "status": "accepted",
        "driver": {"name": given_surname(rng)[0], "phone_number": synth.intl_phone(rng), "rating": 5},
        "vehicle": {"make": "Bugatti", "model": "Veyron", "license_plate": "I<3Uber"},
        "location": {"latitude": 37.776, "longitude": -122.417},
        "eta": 5,
    }
    return Sample(
        "GET /v1.2/requests/{id}",
        _record(rng, "GET", f"/v1.2/requests/{ride['request_id']}", resp_body=_json(ride)),
        {("response", "PERSON"), ("response", "PHONE_NUMBER")},
    )


def ep_pypi_project(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    version = f"{rng.randrange(1, 5)}.{rng.randrange(40)}.{rng.randrange(10)}"
    info = {
        "info": {
            "author": f"{given} {surname}",
            "author_email": _email(given, surname),
            "maintainer": "",
            "version": version,
            "home_page": "https://requests.readthedocs.io",
            "summary": "Python HTTP for Humans.",
        },
        "releases": {
            version: [
                {
                    "md5_digest": _hex(rng, 32),
                    "size": rng.randrange(10**5),
                    "upload_time": "2023-05-22T15:12:42",
                }
            ]
        },
    }
    return Sample(
        "GET /pypi/{project}/json",
        _record(rng, "GET", "/pypi/requests/json", resp_body=_json(info)),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS")},
    )


def ep_sentry_event(rng: random.Random) -> Sample:
    event = {
        "event_id": _hex(rng, 32),
        "release": f"my-app@{rng.randrange(1, 4)}.{rng.randrange(10)}.{rng.randrange(20)}",
        "user": {
            "id": str(rng.randrange(1000)),
            "email": synth.email(rng),
            "ip_address": f"198.51.100.{rng.randrange(1, 255)}",
            "username": "jane",
        },
        "contexts": {
            "os": {"name": "Mac OS X", "version": "10.15.7"},
            "browser": {"name": "Chrome", "version": f"119.0.{rng.randrange(6000, 6100)}.199"},
        },
        "sdk": {"name": "sentry.javascript.browser", "version": "7.80.0"},
        "message": "TypeError: Cannot read properties of undefined (reading 'id')",
    }
    return Sample(
        "POST /api/{project}/store/",
        _record(
            rng,
            "POST",
            f"/api/{rng.randrange(100)}/store/?sentry_key={_hex(rng, 32)}&sentry_version=7",
            req_body=_json(event),
            req_type="application/json",
            resp_body=_json({"id": event["event_id"]}),
        ),
        {("request", "EMAIL_ADDRESS"), ("request", "IP_ADDRESS"), ("query", "CREDENTIAL")},
    )


def ep_segment_track(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    body = {
        "anonymousId": _hex(rng, 24),
        "event": "Order Completed",
        "context": {
            "ip": f"203.0.113.{rng.randrange(1, 255)}",
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "library": {"name": "analytics.js", "version": "4.1.0"},
        },
        "properties": {
            "order_id": _hex(rng, 24),
            "total": 27.5,
            "products": [{"product_id": _hex(rng, 24), "name": "Monopoly: 3rd Edition", "price": 19}],
        },
        "traits": {"name": f"{given} {surname}", "email": _email(given, surname)},
        "userId": _hex(rng, 13),
    }
    return Sample(
        "POST /v1/track",
        _record(
            rng,
            "POST",
            "/v1/track",
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json({"success": True}),
        ),
        {("request", "IP_ADDRESS"), ("request", "PERSON"), ("request", "EMAIL_ADDRESS")},
    )


def ep_ec2_instances(rng: random.Random) -> Sample:
    private = private_ip(rng)
    xml = (
        '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><reservationSet><item>'
        f"<reservationId>r-{_hex(rng, 17)}</reservationId><ownerId>{_digits(rng, 12)}</ownerId><instancesSet><item>"
        f"<instanceId>i-{_hex(rng, 17)}</instanceId><imageId>ami-{_hex(rng, 17)}</imageId>"
        f"<privateDnsName>ip-{private.replace('.', '-')}.ec2.internal</privateDnsName><privateIpAddress>{private}</privateIpAddress>"
        f"<ipAddress>54.194.{rng.randrange(256)}.{rng.randrange(1, 255)}</ipAddress>"
        "<networkInterfaceSet><item><macAddress>02:81:60:cb:27:37</macAddress></item></networkInterfaceSet>"
        "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>"
    )
    return Sample(
        "GET /?Action=DescribeInstances",
        _record(
            rng,
            "GET",
            "/?Action=DescribeInstances&Version=2016-11-15",
            resp_body=xml,
            resp_type="text/xml;charset=UTF-8",
        ),
        {("response", "IP_ADDRESS")},
    )


def ep_cloudflare_dns(rng: random.Random) -> Sample:
    records = [
        {
            "id": _hex(rng, 32),
            "type": "A",
            "name": rng.choice(["example.com", "api.example.com"]),
            "content": f"198.51.100.{rng.randrange(1, 255)}",
            "proxied": False,
            "ttl": 3600,
        },
        {
            "id": _hex(rng, 32),
            "type": "CNAME",
            "name": "www.example.com",
            "content": "example.com",
            "proxied": True,
            "ttl": 1,
        },
    ]
    return Sample(
        "GET /client/v4/zones/{zone}/dns_records",
        _record(
            rng,
            "GET",
            f"/client/v4/zones/{_hex(rng, 32)}/dns_records?per_page=50",
            req_headers=[["Authorization", "Bearer " + _alnum(rng, 40)]],
            resp_body=_json({"result": records, "success": True}),
        ),
        {("response", "IP_ADDRESS"), ("header", "CREDENTIAL")},
    )


def ep_consul_catalog(rng: random.Random) -> Sample:
    lan = private_ip(rng)
    nodes = [
        {
            "ID": _hex(rng, 32),
            "Node": "foobar",
            "Address": lan,
            "Datacenter": "dc1",
            "TaggedAddresses": {"lan": lan, "wan": private_ip(rng)},
            "ServiceName": "redis",
            "ServiceAddress": "",
            "ServicePort": 8000,
        }
    ]
    return Sample(
        "GET /v1/catalog/service/{name}",
        _record(rng, "GET", "/v1/catalog/service/redis", resp_body=_json(nodes)),
        {("response", "IP_ADDRESS")},
    )


def ep_github_commits(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    commits = [
        {
            "sha": _hex(rng, 40),
            "commit": {
                "author": {
                    "name": f"{given} {surname}",
                    "email": _email(given, surname),
                    "date": "2011-04-14T16:00:49Z",
                },
                "message": "Fix all the bugs",
            },
            "author": {"login": "octocat", "id": 1},
        }
    ]
    return Sample(
        "GET /repos/{owner}/{repo}/commits",
        _record(rng, "GET", "/repos/octocat/Hello-World/commits?per_page=1", resp_body=_json(commits)),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS")},
    )


def ep_elasticsearch_search(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    hits = {
        "hits": {
            "total": {"value": 1},
            "hits": [
                {
                    "_index": "people",
                    "_id": str(rng.randrange(100)),
                    "_source": {"name": f"{given} {surname}", "age": rng.randrange(18, 90), "city": "Berlin"},
                }
            ],
        }
    }
    query = urlencode({"q": f"last_name:{surname}"})
    return Sample(
        "GET /people/_search",
        _record(rng, "GET", f"/people/_search?{query}", resp_body=_json(hits)),
        {("response", "PERSON"), ("query", "PERSON")},
    )


def ep_datadog_series(rng: random.Random) -> Sample:
    body = {
        "series": [
            {
                "metric": "system.load.1",
                "points": [[synth.epoch(rng), 0.5]],
                "host": "i-" + _hex(rng, 13),
                "tags": [f"version:2.14.{rng.randrange(10)}.{rng.randrange(100)}", "env:prod"],
            }
        ]
    }
    return Sample(
        "POST /api/v1/series",
        _record(
            rng,
            "POST",
            "/api/v1/series",
            req_headers=[["DD-API-KEY", _hex(rng, 32)]],
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json({"status": "ok"}),
        ),
        {("header", "CREDENTIAL")},
    )


def ep_jenkins_build(rng: random.Random) -> Sample:
    n = rng.randrange(1000, 9999)
    build = {
        "number": n,
        "id": str(n),
        "displayName": f"#{n}",
        "fullDisplayName": f"api-gateway #{n}",
        "builtOn": "agent-7",
        "result": "SUCCESS",
        "timestamp": synth.epoch(rng, ms=True),
    }
    return Sample(
        "GET /job/{job}/{n}/api/json",
        _record(rng, "GET", f"/job/api-gateway/{n}/api/json", resp_body=_json(build)),
        set(),
    )


def ep_grafana_dashboard(rng: random.Random) -> Sample:
    body = {
        "dashboard": {"title": "Production Overview", "uid": _alnum(rng, 9), "version": rng.randrange(50)},
        "meta": {
            "createdBy": "admin",
            "updatedBy": "Anonymous",
            "folderTitle": "General",
            "version": rng.randrange(50),
        },
    }
    return Sample(
        "GET /api/dashboards/uid/{uid}",
        _record(rng, "GET", f"/api/dashboards/uid/{body['dashboard']['uid']}", resp_body=_json(body)),
        set(),
    )


def ep_prometheus_targets(rng: random.Random) -> Sample:
    ip = private_ip(rng)
    body = {
        "status": "success",
        "data": {
            "activeTargets": [
                {
                    "discoveredLabels": {"__address__": f"{ip}:9100"},
                    "labels": {"instance": f"{ip}:9100", "job": "node"},
                    "scrapeUrl": f"http://{ip}:9100/metrics",
                    "health": "up",
                }
            ]
        },
    }
    return Sample(
        "GET /api/v1/targets",
        _record(rng, "GET", "/api/v1/targets", resp_body=_json(body)),
        {("response", "IP_ADDRESS")},
    )


def ep_app_store(rng: random.Random) -> Sample:
    app = {
        "trackName": "Slack",
        "version": f"{rng.randrange(20, 25)}.{rng.randrange(1, 13)}.{rng.randrange(1, 30)}.{rng.randrange(10)}",
        "minimumOsVersion": "15.0",
        "artistName": "Slack Technologies, Inc.",
        "sellerName": "Slack Technologies, Inc.",
        "releaseNotes": "Bug fixes and improvements.",
        "trackId": rng.randrange(10**8, 10**10),
    }
    return Sample(
        "GET /lookup",
        _record(
            rng, "GET", f"/lookup?id={app['trackId']}", resp_body=_json({"resultCount": 1, "results": [app]})
        ),
        set(),
    )


def ep_twilio_call(rng: random.Random) -> Sample:
    call = {
        "sid": "CA" + _hex(rng, 32),
        "from": synth.intl_phone(rng),
        "to": synth.intl_phone(rng),
        "duration": str(rng.randrange(300)),
        "price": "-0.03",
        "direction": "outbound-api",
        "caller_name": None,
    }
    return Sample(
        "GET /2010-04-01/Accounts/{sid}/Calls/{sid}.json",
        _record(
            rng,
            "GET",
            f"/2010-04-01/Accounts/AC{_hex(rng, 32)}/Calls/{call['sid']}.json",
            resp_body=_json(call),
        ),
        {("response", "PHONE_NUMBER")},
    )


ENDPOINTS: tuple[Callable[[random.Random], Sample], ...] = (
    ep_stripe_customer,
    ep_shopify_order,
    ep_slack_users,
    ep_zendesk_ticket,
    ep_calendar_event,
    ep_auth0_user,
    ep_gitlab_mr,
    ep_paypal_order,
    ep_okta_user,
    ep_hubspot_contacts,
    ep_uber_ride,
    ep_pypi_project,
    ep_sentry_event,
    ep_segment_track,
    ep_ec2_instances,
    ep_cloudflare_dns,
    ep_consul_catalog,
    ep_github_commits,
    ep_elasticsearch_search,
    ep_datadog_series,
    ep_jenkins_build,
    ep_grafana_dashboard,
    ep_prometheus_targets,
    ep_app_store,
    ep_twilio_call,
)


def generate(n: int, seed: int = 29) -> list[Sample]:
    rng = random.Random(seed)
    return [ENDPOINTS[i](rng) if i < len(ENDPOINTS) else rng.choice(ENDPOINTS)(rng) for i in range(n)]
