"""A quick end-to-end pass of the review workflow over the API (the full suite is in test_review.py)."""
from conftest import PASSWORD


def token(client, username):
    return {"Authorization": "Bearer " + client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD}).get_json()["token"]}


def test_submit_adopt_and_points(client, make_user):
    make_user("alice")
    make_user("rita", roles=["reviewer", "agent"])
    alice, rita = token(client, "alice"), token(client, "rita")
    created = client.post("/api/v1/entries", json={"title": "客户说太贵", "body": "先算缺口", "kind": "client_case"}, headers=alice).get_json()
    assert client.post(f"/api/v1/entries/{created['id']}/submit", headers=alice).get_json()["status"] == "pending"
    queue = client.get("/api/v1/reviews/queue", headers=rita).get_json()["results"]
    assert [q["id"] for q in queue] == [created["id"]]
    verdict = {"scores": {"accuracy": 5, "usefulness": 4, "clarity": 4, "originality": 3}, "compliance": True, "decision": "adopt", "comment": "好"}
    response = client.post(f"/api/v1/entries/{created['id']}/reviews", json=verdict, headers=rita)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "adopted"
    again = client.post(f"/api/v1/entries/{created['id']}/reviews", json=verdict, headers=rita)
    assert again.status_code == 409
